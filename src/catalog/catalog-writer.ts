import { createPublicKey, type KeyObject } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { BlobStore, StagedBlob } from '../store/blob-store.js';
import type { CatalogLog } from './catalog-log.js';
import { signHead, signTimestamp, type SignedHead, type SignedTimestamp } from './head.js';
import { sealRecord, type CatalogRecord, type RecordBody } from './records.js';
import { RootRejected, mayCatalogSign, nextRoot, type TrustRoot } from './root.js';

/**
 * The primary's only way to change the catalog. Appends are serialized, so sequence
 * numbers and the hash chain never fork; records commit in the same LevelDB batch as the
 * blobs they name, so a package is never listed without its files. The head is re-signed
 * well before it expires, and the short-lived timestamp over it far more often.
 *
 * The primary may hold several signing keys (SLUICE_SIGNING_KEY=old,new during a rotation):
 * it signs with one that the root in force lists for the catalog role.
 */
export class CatalogWriter {
  private tail: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: CatalogLog,
    private readonly store: BlobStore,
    private readonly signingKeys: readonly KeyObject[],
    private readonly headTtlMs: number,
    private readonly timestampTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The signing key the root in force (or `root`) accepts; refuses to run without one. */
  keyFor(root: TrustRoot = this.log.root): KeyObject {
    const key = this.signingKeys.find((k) => mayCatalogSign(root, createPublicKey(k)));
    if (!key) throw new SluiceError('KEY_MISMATCH', `none of the keys in SLUICE_SIGNING_KEY is a catalog key of the root of trust in force (version ${root.version}${root.version === 1 ? ': trust.catalogKey' : ''}); every node would reject what this primary signs. Give it the private half of a key the root lists`);
    return key;
  }

  /** Signs a head and timestamp for the current tip if due, then keeps both fresh. */
  async start(): Promise<void> {
    this.keyFor();
    await this.refreshHead();
    // Several checks per timestamp lifetime keep it fresh even across clock jumps.
    const everyMs = Math.max(200, Math.min(this.timestampTtlMs / 6, this.headTtlMs / 8, 600_000));
    this.timer = setInterval(() => void this.refreshHead().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /**
   * Asks `bodies` for the records to append inside the lock, against the current state (it
   * throws to refuse, or returns none to append nothing), then seals, signs and commits them
   * with `staged` blobs in one store commit.
   */
  append(bodies: (log: CatalogLog) => RecordBody[], staged: readonly StagedBlob[] = []): Promise<CatalogRecord[]> {
    return this.serialize(async () => {
      const list = bodies(this.log);
      if (list.length === 0) return [];
      const records = this.seal(list);
      const { head, timestamp } = this.sign(this.log.root, records.at(-1)!.seq, records.at(-1)!.hash);
      await this.store.commit(staged, this.log.writes(records, head, timestamp));
      this.log.applied(records, head, timestamp);
      return records;
    });
  }

  /**
   * Puts root `doc` (signed offline) in force: checked exactly as every node will check it,
   * appended as a record, and the head after it signed with a key of the new root.
   */
  applyRoot(doc: unknown, by: string): Promise<{ version: number; seq: number }> {
    return this.serialize(async () => {
      let next: TrustRoot;
      try {
        next = nextRoot(this.log.root, doc, this.now());
      } catch (err) {
        if (err instanceof RootRejected) throw new SluiceError('CATALOG_ROOT_INVALID', `${err.message}; nothing was changed`);
        throw err;
      }
      this.keyFor(next);
      const [record] = this.seal([{ type: 'root', root: next.doc!, by, at: new Date(this.now()).toISOString() }]);
      const { head, timestamp } = this.sign(next, record!.seq, record!.hash);
      await this.store.commit([], this.log.writes([record!], head, timestamp));
      this.log.applied([record!], head, timestamp, next);
      return { version: next.version, seq: record!.seq };
    });
  }

  /** Re-signs the head when less than half its lifetime remains, the timestamp when a third of its own does. */
  refreshHead(): Promise<void> {
    return this.serialize(() => this.resignIfDue());
  }

  private async resignIfDue(): Promise<void> {
    const head = this.log.head;
    const ts = this.log.timestamp;
    const now = this.now();
    const headDue = !head || Date.parse(head.expires) - now <= this.headTtlMs / 2;
    const tsDue = !ts || ts.seq !== this.log.seq || Date.parse(ts.expires) - now <= (this.timestampTtlMs * 2) / 3;
    if (!headDue && !tsDue) return;
    const key = this.keyFor();
    const newHead = headDue ? signHead(this.log.seq, this.log.tipHash, new Date(now + this.headTtlMs), key) : head!;
    await this.log.replaceHead(newHead, signTimestamp(this.log.seq, this.log.tipHash, new Date(now), new Date(now + this.timestampTtlMs), key));
  }

  private seal(list: RecordBody[]): CatalogRecord[] {
    let prev = this.log.tipHash;
    let seq = this.log.seq;
    return list.map((body) => {
      const record = sealRecord(body, ++seq, prev);
      prev = record.hash;
      return record;
    });
  }

  private sign(root: TrustRoot, seq: number, hash: string): { head: SignedHead; timestamp: SignedTimestamp } {
    const key = this.keyFor(root);
    const now = this.now();
    return { head: signHead(seq, hash, new Date(now + this.headTtlMs), key), timestamp: signTimestamp(seq, hash, new Date(now), new Date(now + this.timestampTtlMs), key) };
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
