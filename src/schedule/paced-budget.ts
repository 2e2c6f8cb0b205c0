import type { RateBudget } from './rate-budget.js';

/**
 * A byte budget that paces on a virtual schedule. Each grant reserves the next free slot:
 * it starts at `nextFree` (or now, if later) and moves `nextFree` on by bytes / rate, then
 * the caller sleeps until its slot starts. Reservations are made in arrival order, so
 * concurrent transfers asking chunk by chunk alternate and share the rate fairly; late
 * wake-ups never accumulate error, because the schedule, not the wake-up time, decides what
 * comes next. At most `burstMs` of idle time is carried over, so the budget never lets a
 * second's worth out at once.
 */
export class PacedBudget implements RateBudget {
  private rate: number;
  private nextFree = 0;
  /** Waiters to wake when the rate changes (each removes itself when done). */
  private readonly onRateChange = new Set<() => void>();

  constructor(
    rateBytesPerSec: number,
    private readonly burstMs = 50,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.rate = rateBytesPerSec;
  }

  get rateBytesPerSec(): number {
    return this.rate;
  }

  /** Takes effect for the next grant: running transfers slow down or speed up, never fail. */
  setRate(rateBytesPerSec: number): void {
    if (rateBytesPerSec === this.rate) return;
    const wasPaused = this.rate === 0;
    this.rate = rateBytesPerSec;
    // Slots reserved at the old rate are re-planned from now.
    this.nextFree = Math.min(this.nextFree, this.now());
    if (wasPaused) this.nextFree = this.now();
    for (const wake of [...this.onRateChange]) wake();
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      if (this.rate === Infinity || bytes <= 0) return;
      if (this.rate === 0) {
        await this.wait(undefined, signal);
        continue;
      }
      const now = this.now();
      const start = Math.max(this.nextFree, now - this.burstMs);
      const rate = this.rate;
      this.nextFree = start + (bytes / rate) * 1000;
      if (start - now <= 1) return;
      await this.wait(start - now, signal);
      // A rate change while waiting re-plans this grant at the new rate.
      if (this.rate === rate) return;
    }
  }

  /** Waits `ms` (until a rate change when undefined), or less if the rate changes; rejects on abort. */
  private wait(ms: number | undefined, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.onRateChange.delete(finish);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        finish();
        reject(signal!.reason ?? new Error('aborted'));
      };
      const timer = ms === undefined ? undefined : setTimeout(finish, ms);
      this.onRateChange.add(finish);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
