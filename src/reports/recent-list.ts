/**
 * The newest `cap` entries of a set that is too large to hold (failed installs of 100,000
 * endpoints), by key, each with the time it is ordered by. Adding beyond the cap drops the
 * oldest; removing an entry after something was dropped leaves the list possibly missing an
 * older entry that now belongs in it: `complete` says so, and the owner refills it from
 * storage into a new list.
 */
export class RecentList<T> {
  private readonly entries = new Map<string, { value: T; atMs: number }>();
  private dropped = false;

  constructor(private readonly cap: number) {}

  /** True while the list holds the newest `cap` entries of the whole set. */
  get complete(): boolean {
    return !this.dropped;
  }

  put(key: string, value: T, atMs: number): void {
    // Full and older than everything held: it would be dropped at once (keeps a full scan of
    // a large set at one comparison per entry).
    if (!this.entries.has(key) && this.entries.size >= this.cap && atMs <= this.oldestMs()) {
      this.dropped = true;
      return;
    }
    this.entries.set(key, { value, atMs });
    if (this.entries.size <= this.cap) return;
    this.entries.delete(this.oldestKey()!);
    this.dropped = true;
  }

  private oldestKey(): string | undefined {
    let oldest: string | undefined;
    let oldestMs = Infinity;
    for (const [k, e] of this.entries) {
      if (e.atMs < oldestMs) {
        oldestMs = e.atMs;
        oldest = k;
      }
    }
    return oldest;
  }

  private oldestMs(): number {
    const key = this.oldestKey();
    return key === undefined ? -Infinity : this.entries.get(key)!.atMs;
  }

  /** Removes `key`; true when the list may now lack an older entry (see `complete`). */
  delete(key: string): boolean {
    return this.entries.delete(key) && this.dropped;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Newest first. */
  values(): T[] {
    return [...this.entries.values()].sort((a, b) => b.atMs - a.atMs).map((e) => e.value);
  }
}
