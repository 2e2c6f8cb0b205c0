import type { KeyObject } from 'node:crypto';
import { SluiceError } from '../errors.js';
import { collectGarbage } from '../log/heap.js';
import type { BatchOp, MetaDb, Sublevel } from '../store/meta-db.js';
import { sublevels, syncBatch } from '../store/meta-db.js';
import { CatalogState } from './catalog-state.js';
import { headSignedBy, signedHeadSchema, timestampSchema, timestampSignedBy, type SignedHead, type SignedTimestamp } from './head.js';
import { implicitRoot, nextRoot, type TrustRoot } from './root.js';
import { GENESIS_HASH, hashRecord, recordSchema, type CatalogRecord } from './records.js';

const HEAD_KEY = 'catalog-head';
/** Records read and applied at a time when a head is committed. */
const APPLY_BATCH = 2000;
/** Records after which the garbage of reading them is collected at once (log/heap.ts). */
const LARGE_COMMIT = 10_000;
const TIMESTAMP_KEY = 'catalog-timestamp';
/** Zero-padded so LevelDB's byte order is sequence order. */
export const seqKey = (seq: number): string => String(seq).padStart(16, '0');

/**
 * A node's verified copy of the catalog, persisted in LevelDB. Promises: every record it
 * holds links to the one before it, and the newest is named by a head signed with the
 * pinned key (checked at open). Leaves out: who may append (the writer at the primary,
 * the follower downstream) and how records travel.
 */
export class CatalogLog {
  readonly state = new CatalogState();
  private lastSeq = 0;
  private lastHash = GENESIS_HASH;
  private currentHead: SignedHead | undefined;
  private currentTimestamp: SignedTimestamp | undefined;
  private currentRoot: TrustRoot;
  /** Where received (staged, not yet trusted) records end, and the root in force after them. */
  private received: { seq: number; hash: string; root: TrustRoot } | undefined;
  private closing = false;
  private stagedSinceCollect = 0;
  private readonly waiters = new Set<() => void>();
  readonly records: Sublevel;
  private readonly stateDb: Sublevel;

  private constructor(
    private readonly db: MetaDb,
    pinned: TrustRoot,
  ) {
    this.currentRoot = pinned;
    const s = sublevels(db);
    this.records = s.records;
    this.stateDb = s.state;
  }

  /**
   * Loads and re-verifies the whole log; throws if the chain or the head does not verify.
   * Records beyond the signed head (received by a follower that crashed before the head
   * covered them) were never trusted and are dropped.
   */
  static async open(db: MetaDb, trust: TrustRoot | KeyObject): Promise<CatalogLog> {
    const log = new CatalogLog(db, 'catalogKeys' in trust ? trust : implicitRoot(trust));
    const stored = (await log.stateDb.get(HEAD_KEY)) as unknown;
    const head = stored === undefined ? undefined : signedHeadSchema.parse(stored);
    const limit = head?.seq ?? 0;
    for await (const value of log.records.values({ lte: seqKey(limit) }) as AsyncIterable<unknown>) {
      const record = recordSchema.parse(value);
      if (record.seq !== log.lastSeq + 1 || record.prev !== log.lastHash || hashRecord(record) !== record.hash) {
        throw new SluiceError('CATALOG_CHAIN_BROKEN', `the local catalog is corrupt at record ${record.seq}; move the node's data directory aside and let it resynchronise`);
      }
      // Roots in the log were verified when they arrived; their expiry belonged to their time.
      if (record.type === 'root') log.currentRoot = nextRoot(log.currentRoot, record.root);
      log.state.apply(record);
      log.lastSeq = record.seq;
      log.lastHash = record.hash;
    }
    if (head) {
      if (head.seq !== log.lastSeq || head.hash !== log.lastHash || !headSignedBy(head, log.currentRoot.catalogKeys)) {
        throw new SluiceError('CATALOG_SIGNATURE_INVALID', 'the stored catalog head does not match the records or the pinned root of trust (was trust.catalogKey or trust.root changed?); move the data directory aside to resynchronise');
      }
      log.currentHead = head;
      const ts = (await log.stateDb.get(TIMESTAMP_KEY)) as unknown;
      const parsedTs = ts === undefined ? undefined : timestampSchema.safeParse(ts);
      if (parsedTs?.success && parsedTs.data.seq === head.seq && timestampSignedBy(parsedTs.data, log.currentRoot.catalogKeys)) log.currentTimestamp = parsedTs.data;
    }
    await log.discardUnverified();
    if (log.lastSeq >= LARGE_COMMIT) collectGarbage();
    return log;
  }

  /** Where received-but-unverified records end (equals seq/tipHash when none are pending). */
  get receivedTip(): { seq: number; hash: string; root: TrustRoot } {
    return this.received ?? { seq: this.lastSeq, hash: this.lastHash, root: this.currentRoot };
  }

  /** The root of trust in force: the pinned one, moved on by every root record verified since. */
  get root(): TrustRoot {
    return this.currentRoot;
  }

  /** The newest verified timestamp over the head (served to downstream nodes and agents). */
  get timestamp(): SignedTimestamp | undefined {
    return this.currentTimestamp;
  }

  /**
   * A follower writes chain-checked records ahead of the signed head that will cover them
   * (a long initial sync spans several pages). They stay invisible until `commitHead`.
   */
  async stageRecords(records: readonly CatalogRecord[], rootAfter: TrustRoot): Promise<void> {
    if (records.length === 0) return;
    await this.records.batch(records.map((r) => ({ type: 'put' as const, key: seqKey(r.seq), value: r })));
    const last = records[records.length - 1]!;
    this.received = { seq: last.seq, hash: last.hash, root: rootAfter };
    // A long first sync: the pages read so far are garbage once written.
    this.stagedSinceCollect += records.length;
    if (this.stagedSinceCollect >= LARGE_COMMIT) {
      this.stagedSinceCollect = 0;
      collectGarbage();
    }
  }

  /**
   * Makes every staged record up to `head.seq` trusted, durably, then applies and announces
   * them; returns how many. Applied a few thousand at a time, never all held at once: a
   * node's first sync of a whole archive commits some 60,000 records here. The head is
   * written first, so a crash in between re-applies them from disk at the next open; the
   * new head is announced (and served) only once every record is applied.
   */
  async commitHead(head: SignedHead, timestamp: SignedTimestamp | undefined, root: TrustRoot): Promise<number> {
    await syncBatch(this.db, this.headWrites(head, timestamp));
    this.received = undefined;
    this.currentRoot = root;
    let count = 0;
    while (this.lastSeq < head.seq) {
      const batch = await this.read(this.lastSeq, APPLY_BATCH, head.seq);
      if (batch.length === 0) break;
      for (const r of batch) {
        this.state.apply(r);
        this.lastSeq = r.seq;
        this.lastHash = r.hash;
      }
      count += batch.length;
    }
    this.applied([], head, timestamp, undefined, count > 0);
    if (count >= LARGE_COMMIT) collectGarbage();
    return count;
  }

  /**
   * Forgets records received beyond the verified head (after a rejected sync, and at open).
   * LevelDB's range delete walks them in batches of 16 KiB of keys, so memory stays flat
   * however many a crashed or runaway sync left (one batch of a million deletes took a
   * start past 1 GB). Not fsynced: records beyond the head are dropped again at the next
   * open, and the next durable write (a committed head) carries the deletes with it.
   */
  async discardUnverified(): Promise<void> {
    await this.records.clear({ gt: seqKey(this.lastSeq) });
    this.received = undefined;
  }

  get seq(): number {
    return this.lastSeq;
  }

  get tipHash(): string {
    return this.lastHash;
  }

  get head(): SignedHead | undefined {
    return this.currentHead;
  }

  /**
   * Records with seq > after and ≤ upTo (default: the newest), oldest first, at most
   * `limit`. Callers pairing records with a head pass that head's seq, so an append landing
   * during the read cannot give them records that stop short of, or run past, the head.
   */
  async read(after: number, limit: number, upTo = this.lastSeq): Promise<CatalogRecord[]> {
    const out: CatalogRecord[] = [];
    if (after >= upTo) return [];
    for await (const value of this.records.values({ gt: seqKey(after), lte: seqKey(upTo), limit }) as AsyncIterable<unknown>) {
      out.push(value as CatalogRecord);
    }
    return out;
  }

  /** Batch entries that persist `records`, `head` and its timestamp; commit them with `syncBatch` or a store commit. */
  writes(records: readonly CatalogRecord[], head: SignedHead, timestamp: SignedTimestamp | undefined): BatchOp[] {
    return [...records.map((r) => ({ type: 'put' as const, sublevel: this.records, key: seqKey(r.seq), value: r })), ...this.headWrites(head, timestamp)];
  }

  private headWrites(head: SignedHead, timestamp: SignedTimestamp | undefined): BatchOp[] {
    return [
      { type: 'put' as const, sublevel: this.stateDb, key: HEAD_KEY, value: head },
      ...(timestamp ? [{ type: 'put' as const, sublevel: this.stateDb, key: TIMESTAMP_KEY, value: timestamp }] : []),
    ];
  }

  /**
   * Call after the batch from `writes` is durable: updates memory and wakes long-polls. The
   * primary passes the root its records put in force.
   */
  applied(records: readonly CatalogRecord[], head: SignedHead, timestamp: SignedTimestamp | undefined, root?: TrustRoot, recordsApplied = false): void {
    for (const r of records) {
      this.state.apply(r);
      this.lastSeq = r.seq;
      this.lastHash = r.hash;
    }
    if (root) this.currentRoot = root;
    // New records, a re-signed head or a fresh timestamp: downstream long-polls should hear of it.
    const changed = records.length > 0 || recordsApplied || this.currentHead?.expires !== head.expires || (timestamp !== undefined && this.currentTimestamp?.issued !== timestamp.issued);
    this.currentHead = head;
    if (timestamp) this.currentTimestamp = timestamp;
    if (changed) for (const wake of [...this.waiters]) wake();
  }

  /** Persists a re-signed head and timestamp for the same records, and passes them down to long-polls. */
  async replaceHead(head: SignedHead, timestamp: SignedTimestamp | undefined): Promise<void> {
    await syncBatch(this.db, this.headWrites(head, timestamp));
    this.applied([], head, timestamp);
  }

  /**
   * Resolves when seq passes `after`, when the head changes (first head, re-signed head),
   * after `timeoutMs`, or when `signal` aborts.
   */
  waitForRecords(after: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if ((this.currentHead && this.lastSeq > after) || timeoutMs <= 0 || signal?.aborted || this.closing) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Ends every long-poll at once, and any that starts later (shutdown). */
  wakeAll(): void {
    this.closing = true;
    for (const wake of [...this.waiters]) wake();
  }
}
