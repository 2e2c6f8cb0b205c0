import { Agent, request } from 'undici';
import { sha256 } from './hash.js';

/** What a hammering saw: answers by status, the bodies of server errors, bodies that came whole but wrong. */
export interface HammerOutcome {
  readonly requests: number;
  readonly statuses: Map<number, number>;
  /** `STATUS BODY` of every 5xx answer. */
  readonly serverErrors: string[];
  /** 200 answers whose body was complete but did not hash to the blob (never acceptable). */
  readonly wrong: number;
  /** Answers cut before their end (acceptable: the client sees a short body). */
  readonly cut: number;
}

/**
 * GETs `url(sha)` for each blob of `blobs` every `everyMs`, at most `maxInFlight` at once,
 * until `done()` says so, `maxRequests` were sent or `maxMs` passed (bounded in count and
 * time). Each answer's body is read whole and checked.
 */
export async function hammer(o: { url: (sha256: string) => string; blobs: readonly { sha256: string; size: number }[]; everyMs: number; maxInFlight: number; maxRequests: number; maxMs: number; done: () => boolean }): Promise<HammerOutcome> {
  const agent = new Agent({ connections: o.maxInFlight, pipelining: 0 });
  const statuses = new Map<number, number>();
  const serverErrors: string[] = [];
  let wrong = 0;
  let cut = 0;
  let requests = 0;
  let inFlight = 0;
  const running = new Set<Promise<void>>();
  const deadline = Date.now() + o.maxMs;
  const one = async (blob: { sha256: string; size: number }) => {
    try {
      const res = await request(o.url(blob.sha256), { dispatcher: agent, headersTimeout: 30_000, bodyTimeout: 30_000 });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode >= 500) serverErrors.push(`${res.statusCode} ${body.toString('utf8').slice(0, 300)}`);
      if (res.statusCode === 200 && body.length === blob.size && sha256(body) !== blob.sha256) wrong++;
    } catch {
      cut++;
    }
  };
  try {
    for (let i = 0; !o.done() && requests < o.maxRequests && Date.now() < deadline; i++) {
      for (const blob of o.blobs) {
        if (inFlight >= o.maxInFlight) break;
        requests++;
        inFlight++;
        const p = one(blob).finally(() => {
          inFlight--;
          running.delete(p);
        });
        running.add(p);
      }
      await new Promise((r) => setTimeout(r, o.everyMs));
    }
    await Promise.all(running);
  } finally {
    await agent.close();
  }
  return { requests, statuses, serverErrors, wrong, cut };
}
