/**
 * Exponential backoff with full jitter: a random delay in [0, min(cap, floor·2^attempt)].
 * Full jitter spreads retries of many nodes that failed together (an upstream restart)
 * instead of having them return in lock-step.
 */
export function backoffMs(attempt: number, floorMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, floorMs * 2 ** Math.min(attempt, 30));
  return Math.max(floorMs / 4, Math.floor(random() * ceiling));
}

/** Resolves after `ms`, or early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
