import { SingleBar, Presets } from 'cli-progress';
import { formatBytes } from '../topology/units.js';

/** A byte progress bar on stderr when it is a terminal; silent otherwise (scripts, CI). */
export function byteProgress(label: string, total: number): { add(n: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { add() {}, stop() {} };
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% {done}/{size} {speed}/s eta {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  bar.start(total, 0, { done: formatBytes(0), size: formatBytes(total), speed: formatBytes(0) });
  return {
    add(n: number) {
      done += n;
      const secs = Math.max(0.001, (Date.now() - started) / 1000);
      bar.update(done, { done: formatBytes(done), speed: formatBytes(done / secs) });
    },
    stop() {
      bar.stop();
    },
  };
}
