import type { KeyObject } from 'node:crypto';
import type { BlobStore, StagedBlob } from '../store/blob-store.js';
import type { CatalogLog } from './catalog-log.js';
import { signHead, type SignedHead } from './head.js';
import { sealRecord, type CatalogRecord, type RecordBody } from './records.js';

/**
 * The primary's only way to change the catalog. Appends are serialized, so sequence
 * numbers and the hash chain never fork; records commit in the same LevelDB batch as the
 * blobs they name, so a package is never listed without its files. The head is re-signed
 * well before it expires.
 */
export class CatalogWriter {
  private tail: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: CatalogLog,
    private readonly store: BlobStore,
    private readonly signingKey: KeyObject,
    private readonly headTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Signs a head for the current tip if none is stored yet, or if it is past half its life. */
  async start(): Promise<void> {
    await this.refreshHead();
    // Checking a few times per half-life keeps the head fresh even across clock jumps.
    const everyMs = Math.max(1000, Math.min(this.headTtlMs / 8, 3_600_000));
    this.timer = setInterval(() => void this.refreshHead().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Validates with `check` (inside the lock, against the current state), then appends. */
  append(bodies: (log: CatalogLog) => RecordBody[], staged: readonly StagedBlob[] = []): Promise<CatalogRecord[]> {
    return this.serialize(async () => {
      const list = bodies(this.log);
      if (list.length === 0) return [];
      let prev = this.log.tipHash;
      let seq = this.log.seq;
      const records = list.map((body) => {
        const record = sealRecord(body, ++seq, prev);
        prev = record.hash;
        return record;
      });
      const head = this.sign(seq, prev);
      await this.store.commit(staged, this.log.writes(records, head));
      this.log.applied(records, head);
      return records;
    });
  }

  /** Re-signs the head when less than half its lifetime remains (or none is stored). */
  refreshHead(): Promise<void> {
    return this.serialize(() => this.resignIfDue());
  }

  private async resignIfDue(): Promise<void> {
    const head = this.log.head;
    const remaining = head ? Date.parse(head.expires) - this.now() : 0;
    if (head && remaining > this.headTtlMs / 2) return;
    await this.log.replaceHead(this.sign(this.log.seq, this.log.tipHash));
  }

  private sign(seq: number, hash: string): SignedHead {
    return signHead(seq, hash, new Date(this.now() + this.headTtlMs), this.signingKey);
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
