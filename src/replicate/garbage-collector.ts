import type { Logger } from '../log/logger.js';
import type { BlobStore } from '../store/blob-store.js';

/**
 * Removes blobs no longer wanted once they have been unwanted for the grace period
 * (policy.grace), unless they are wanted again meanwhile (another package shares them, a
 * decision is reversed).
 */
export class GarbageCollector {
  private readonly unwantedSince = new Map<string, number>();

  constructor(
    private readonly store: BlobStore,
    private readonly graceMs: number,
    private readonly log: Logger,
  ) {}

  /** Notes what is wanted now: blobs held but not in `wanted` start their grace period. */
  note(wanted: ReadonlyMap<string, unknown>, now = Date.now()): void {
    for (const sha of wanted.keys()) this.unwantedSince.delete(sha);
    for (const [sha] of this.store.list()) if (!wanted.has(sha) && !this.unwantedSince.has(sha)) this.unwantedSince.set(sha, now);
  }

  /** Removes what has been unwanted for longer than the grace period. */
  async collect(wanted: ReadonlyMap<string, unknown>, now = Date.now()): Promise<void> {
    for (const [sha, since] of this.unwantedSince) {
      if (now - since < this.graceMs || wanted.has(sha)) continue;
      this.unwantedSince.delete(sha);
      await this.store.remove(sha).catch((err) => this.log.warn({ err, sha256: sha }, 'cannot remove unwanted blob'));
      this.log.info({ sha256: sha }, 'unwanted blob removed after the grace period');
    }
  }
}
