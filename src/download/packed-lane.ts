/**
 * The lane of blobs that cross a hop many per request (pack-file sized, not critical): the
 * most urgent waiting blobs are taken `batchSize` at a time, and at most `maxBatches`
 * requests run at once. One job per batch rather than one per blob: with ten thousand blobs
 * approved at once, a queued job, an abort signal and a waiter per blob kept the receiving
 * node's one thread busy (10,000 × 16 KiB, one hop: median 4.0k blobs/s with a job per
 * blob, 7.2k with one per batch, nine alternating runs each on one machine).
 */
export class PackedLane<T> {
  /** Most urgent first; equal priorities keep the order they were added in. */
  private readonly waiting: { item: T; priority: number }[] = [];
  private running = 0;
  private pumpQueued = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly o: { readonly maxBatches: number; readonly batchSize: number; readonly run: (batch: T[]) => Promise<void> },
  ) {}

  /** Items waiting for a batch (not those running). */
  get size(): number {
    return this.waiting.length;
  }

  add(item: T, priority: number): void {
    const w = this.waiting;
    // Blobs mostly arrive in priority order (a refresh adds them sorted): appending is the
    // common case; otherwise after the last item at least as urgent.
    if (w.length === 0 || w[w.length - 1]!.priority >= priority) w.push({ item, priority });
    else {
      let lo = 0;
      let hi = w.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (w[mid]!.priority >= priority) lo = mid + 1;
        else hi = mid;
      }
      w.splice(lo, 0, { item, priority });
    }
    // Batches are formed after the current turn, so that everything added at once (a catalog
    // answer) is grouped, most urgent first, rather than the first few each starting a request.
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(() => {
        this.pumpQueued = false;
        this.pump();
      });
    }
  }

  /** Drops the waiting items (running batches finish). */
  clear(): void {
    this.waiting.length = 0;
  }

  /** Resolves once no batch runs and none waits. */
  onIdle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < this.o.maxBatches && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.o.batchSize).map((w) => w.item);
      this.running++;
      void this.o
        .run(batch)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    if (this.running === 0 && this.waiting.length === 0) {
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
    }
  }
}
