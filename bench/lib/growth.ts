import { statSync } from 'node:fs';

export interface Growth {
  /** Bytes per second from the first byte to the last. */
  readonly avg: number;
  /** Fullest 1-second window, bytes per second. */
  readonly worst: number;
}

/**
 * Samples the size of the file `pathNow()` names every 50 ms until `done()`; the rate a
 * user would see on the wire (both Sluice and curl write as they receive).
 */
export async function watchGrowth(pathNow: () => string | undefined, done: () => boolean | Promise<boolean>, finalBytes: number): Promise<Growth> {
  const samples: { t: number; bytes: number }[] = [];
  while (!(await done())) {
    const p = pathNow();
    let bytes = 0;
    try {
      bytes = p ? statSync(p).size : 0;
    } catch {
      bytes = samples.at(-1)?.bytes ?? 0;
    }
    samples.push({ t: performance.now(), bytes });
    await new Promise((r) => setTimeout(r, 50));
  }
  samples.push({ t: performance.now(), bytes: finalBytes });
  const start = samples.findIndex((s) => s.bytes > 0);
  const moving = samples.slice(Math.max(0, start - 1));
  const first = moving[0]!;
  const last = moving.at(-1)!;
  const avg = ((last.bytes - first.bytes) * 1000) / Math.max(1, last.t - first.t);
  let worst = 0;
  for (const a of moving) {
    const b = moving.find((s) => s.t >= a.t + 1000);
    if (b) worst = Math.max(worst, ((b.bytes - a.bytes) * 1000) / (b.t - a.t));
  }
  return { avg, worst: worst || avg };
}
