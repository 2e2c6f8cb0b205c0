/**
 * A shared byte budget: every transfer of a node asks it before writing a chunk, so the
 * node's total ingress never exceeds the current rate, whatever the concurrency.
 * Leaves out: where the rate comes from (schedules set it) and per-transfer fairness
 * beyond first-come order of small requests.
 */
export interface RateBudget {
  /** Resolves when `bytes` may be consumed; rejects if `signal` aborts while waiting. */
  take(bytes: number, signal?: AbortSignal): Promise<void>;
  /** Bytes per second now; Infinity when unlimited, 0 when paused. */
  readonly rateBytesPerSec: number;
}

/**
 * How many bytes to ask for at a time: about 20 ms worth, so the output stays smooth even
 * when one network chunk holds more than a second of budget.
 */
export function sliceBytes(budget: RateBudget): number {
  return budget.rateBytesPerSec === Infinity || budget.rateBytesPerSec === 0 ? Infinity : Math.max(1024, Math.floor(budget.rateBytesPerSec / 50));
}

/** No limit: the budget of a node whose schedule is `unlimited`. */
export const UNLIMITED_BUDGET: RateBudget = Object.freeze({
  rateBytesPerSec: Infinity,
  take: () => Promise.resolve(),
});
