import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import type { Readable } from 'node:stream';
import { SluiceError, toSluiceError } from '../errors.js';
import type { BlobStore, Download, IdleDownload, StagedBlob, StageLimits } from './blob-store.js';
import type { BatchOp, MetaDb, Sublevel } from './meta-db.js';
import { sublevels, syncBatch } from './meta-db.js';
import { writeHashed } from './hashed-write.js';
import { PackFiles, type PackLocation } from './pack-files.js';
import { PartialFiles } from './partial-files.js';
import type { BufferPool } from './buffer-pool.js';
import { HOT_BLOB_MAX, packable } from './blob-sizes.js';
import { digestFile, readWhole } from './file-digest.js';
import { GroupCommit } from './group-commit.js';
import { ReadBudget } from './read-budget.js';
import { reconcile } from './reconcile.js';
import { copyFileRange } from './copy-file-range.js';
import type { Writable } from 'node:stream';

const HOT_CACHE_BYTES = 32 * 1024 * 1024;
/** Neighbouring packed blobs are read together up to this many bytes (readSmallInOrder). */
const READ_RUN_MAX = 256 * 1024;

/**
 * Layout under the data directory:
 *   blobs/ab/<sha256>   visible blobs (two-hex fan-out keeps directories small)
 *   tmp/                staging files, on the same filesystem so rename is atomic
 *   quarantine/         blobs that failed re-verification, kept for inspection
 *   partial/            downloads under way (openDownload, partial-files.ts)
 *   packs/              small replicated blobs, many per file (`packs`)
 */
export class FsBlobStore implements BlobStore {
  /** Visible blobs and their sizes. */
  private readonly index = new Map<string, number>();
  /** Blobs that live in a pack file, and where. */
  private readonly packed = new Map<string, PackLocation>();
  /** Small blobs recently read, by sha256 (content-addressed, so never stale), least recently used out past HOT_CACHE_BYTES. */
  private readonly hot = new LRUCache<string, Buffer>({ maxSize: HOT_CACHE_BYTES, sizeCalculation: (b) => Math.max(1, b.length) });
  /** Every read of the node shares one read-ahead budget (read-budget.ts). */
  readonly reads = new ReadBudget();
  private readonly committer: GroupCommit;
  private bytes = 0;
  private removed = 0;
  private readonly blobsDb: Sublevel;
  readonly blobDir: string;
  readonly tmpDir: string;
  readonly quarantineDir: string;
  /** Downloads under way (openDownload); not part of the BlobStore contract. */
  readonly partials: PartialFiles;
  readonly packs: PackFiles;

  private constructor(
    private readonly db: MetaDb,
    readonly dataDir: string,
  ) {
    this.blobsDb = sublevels(db).blobs;
    this.blobDir = path.join(dataDir, 'blobs');
    this.tmpDir = path.join(dataDir, 'tmp');
    this.quarantineDir = path.join(dataDir, 'quarantine');
    this.partials = new PartialFiles(db, dataDir, { commit: (staged, extra) => this.commit(staged, extra), pathOf: (sha256) => this.pathOf(sha256) });
    this.packs = new PackFiles(dataDir);
    this.committer = new GroupCommit({
      db,
      blobsDb: this.blobsDb,
      packs: this.packs,
      has: (sha256) => this.index.has(sha256),
      pathOf: (sha256) => this.pathOf(sha256),
      committed: (staged, loc) => this.committed(staged, loc),
    });
  }

  /**
   * Opens the store and reconciles disk with LevelDB (reconcile.ts): staging files of a
   * crashed write are removed; a record whose file is missing or the wrong size is dropped
   * (and reported); a file without a record is adopted when `isWanted` says so and its bytes
   * hash to its name, deleted otherwise.
   */
  static async open(db: MetaDb, dataDir: string, isWanted: (sha256: string) => boolean = () => false): Promise<{ store: FsBlobStore; dropped: string[]; adopted: string[]; deleted: string[] }> {
    const store = new FsBlobStore(db, dataDir);
    try {
      const outcome = await reconcile(
        {
          db,
          blobsDb: store.blobsDb,
          dirs: { blobs: store.blobDir, quarantine: store.quarantineDir, partial: store.partials.dir, tmp: store.tmpDir },
          packs: store.packs,
          pathOf: (sha256) => store.pathOf(sha256),
          has: (sha256) => store.index.has(sha256),
          found: (sha256, size, loc) => {
            store.index.set(sha256, size);
            store.bytes += size;
            if (loc) {
              store.packed.set(sha256, loc);
              store.packs.hold(loc.pack);
            }
          },
        },
        isWanted,
      );
      await store.partials.reconcile();
      return { store, ...outcome };
    } catch (err) {
      throw toSluiceError(err, `cannot open the blob store in ${dataDir}`);
    }
  }

  pathOf(sha256: string): string {
    return path.join(this.blobDir, sha256.slice(0, 2), sha256);
  }

  has(sha256: string): boolean {
    return this.index.has(sha256);
  }

  sizeOf(sha256: string): number | undefined {
    return this.index.get(sha256);
  }

  /**
   * The whole of a small blob (≤ 64 KiB) from a bounded in-memory cache (32 MiB, least
   * recently used out): opening a file per request is several times slower than serving
   * from memory, and small blobs are the hot ones. Larger blobs always stream from disk.
   */
  async readSmall(sha256: string): Promise<Buffer | undefined> {
    const size = this.index.get(sha256);
    if (size === undefined || size > HOT_BLOB_MAX) return undefined;
    const cached = this.hot.get(sha256);
    if (cached) return cached;
    const loc = this.packed.get(sha256);
    const buf = loc ? await this.packs.read(loc, size) : await readWhole(this.pathOf(sha256), size);
    // Forgotten while it was read (garbage collection, verify): not cached.
    if (this.index.has(sha256)) this.hot.set(sha256, buf);
    return buf;
  }

  /**
   * Small blobs (≤ `maxSize`) in the order asked, each with its bytes or undefined when it is
   * not held as a small blob or cannot be read. Blobs asked one after another that also lie
   * one after another in a pack (a package published or replicated together) are read with
   * one read of up to 256 KiB: a read per 16 KiB blob cost the serving thread a trip through
   * the thread pool each, most of a batch response's CPU. Runs bypass the memory cache (a
   * slice would pin its whole run there); a blob read alone goes through readSmall.
   */
  async *readSmallInOrder(sha256s: readonly string[], maxSize: number): AsyncGenerator<[sha256: string, bytes: Buffer | undefined]> {
    for (let i = 0; i < sha256s.length; ) {
      const first = sha256s[i]!;
      const size = this.index.get(first);
      if (size === undefined || size > maxSize) {
        yield [first, undefined];
        i++;
        continue;
      }
      // A blob already in memory is served from there, alone.
      const loc = this.hot.has(first) ? undefined : this.packed.get(first);
      const sizes = [size];
      let bytes = size;
      while (loc && i + sizes.length < sha256s.length) {
        const sha = sha256s[i + sizes.length]!;
        const next = this.packed.get(sha);
        const nextSize = this.index.get(sha);
        if (!next || nextSize === undefined || nextSize > maxSize || next.pack !== loc.pack || next.offset !== loc.offset + bytes || bytes + nextSize > READ_RUN_MAX) break;
        sizes.push(nextSize);
        bytes += nextSize;
      }
      if (sizes.length === 1) {
        yield [first, await this.readSmall(first).catch(() => undefined)];
        i++;
        continue;
      }
      const run = await this.packs.read(loc!, bytes).catch(() => undefined);
      let at = 0;
      for (const n of sizes) {
        yield [sha256s[i++]!, run?.subarray(at, at + n)];
        at += n;
      }
    }
  }

  /** A small blob already in memory, without waiting: the hot path of serving. */
  cachedSmall(sha256: string): Buffer | undefined {
    return this.index.has(sha256) ? this.hot.get(sha256) : undefined;
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    if (!this.index.has(sha256)) throw new SluiceError('BLOB_NOT_FOUND', `blob ${sha256} is not stored on this node`);
    const loc = this.packed.get(sha256);
    if (loc) return this.packs.stream(loc, range?.start ?? 0, range?.end ?? this.index.get(sha256)! - 1);
    return this.reads.track(createReadStream(this.pathOf(sha256), { ...range, highWaterMark: this.reads.streamHighWaterMark() }));
  }

  /**
   * Writes bytes [start, end] of a visible blob to `dest` (not ending it), through reused
   * buffers: the way to send a large blob, where read() would allocate a buffer per chunk.
   */
  async copyTo(sha256: string, dest: Writable, range?: { start: number; end: number }, onChunk?: (bytes: number) => void): Promise<void> {
    const size = this.index.get(sha256);
    if (size === undefined) throw new SluiceError('BLOB_NOT_FOUND', `blob ${sha256} is not stored on this node`);
    const { start, end } = range ?? { start: 0, end: size - 1 };
    const loc = this.packed.get(sha256);
    const [file, base] = loc ? [this.packs.pathOf(loc.pack), loc.offset] : [this.pathOf(sha256), 0];
    await this.withReadBuffers((o) => copyFileRange(file, base + start, base + end, dest, { ...o, onChunk }));
  }

  /** Lends reused read buffers within the node's read budget (read-budget.ts). */
  withReadBuffers<T>(copy: (o: { chunkBytes: number; pool: BufferPool }) => Promise<T>): Promise<T> {
    return this.reads.withReadBuffers(copy);
  }

  openDownload(sha256: string, size: number, signal?: AbortSignal): Promise<Download> {
    return this.partials.open(sha256, size, signal);
  }

  partialBytes(sha256: string): number {
    return this.partials.heldBytes(sha256);
  }

  idleDownloads(): Promise<IdleDownload[]> {
    return this.partials.idle();
  }

  dropDownload(sha256: string): Promise<boolean> {
    return this.partials.drop(sha256);
  }

  /** A small blob already verified in memory, to be committed into a pack file. */
  stageBuffer(sha256: string, data: Buffer): StagedBlob {
    return { tmpPath: '', sha256, size: data.length, data };
  }

  /** sha256 and length of a stored blob's bytes as they are on disk now (verify). */
  async digest(sha256: string): Promise<{ sha256: string; size: number }> {
    const loc = this.packed.get(sha256);
    if (!loc) return digestFile(this.pathOf(sha256));
    if ((await this.packs.sizeOf(loc.pack)) < 0) throw Object.assign(new Error(`pack ${loc.pack} is gone`), { code: 'ENOENT' });
    const bytes = await this.packs.read(loc, this.index.get(sha256) ?? 0);
    return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  }

  /** True when the blob lives in a pack file rather than a file of its own. */
  isPacked(sha256: string): boolean {
    return this.packed.has(sha256);
  }

  /** Where a packed blob's bytes are (pack number and offset), for diagnosis. */
  packLocation(sha256: string): PackLocation | undefined {
    return this.packed.get(sha256);
  }

  async close(): Promise<void> {
    await this.packs.close();
  }

  async stage(source: AsyncIterable<Uint8Array>, limits: StageLimits = {}): Promise<StagedBlob> {
    const tmpPath = path.join(this.tmpDir, `${Date.now()}-${randomBytes(6).toString('hex')}.tmp`);
    try {
      // A small upload goes into a pack file at commit, which fsyncs it there: no fsync here.
      // Should packing fail, the commit fsyncs the file (unsynced) before its rename.
      const { sha256, size, synced } = await writeHashed(source, tmpPath, { maxBytes: limits.maxBytes, signal: limits.signal, skipSync: packable });
      return { tmpPath, sha256, size, ...(synced ? {} : { unsynced: true }) };
    } catch (err) {
      await unlink(tmpPath).catch(() => undefined);
      throw err instanceof SluiceError ? err : toSluiceError(err, 'cannot store the upload');
    }
  }

  /** Makes staged blobs visible (group-commit.ts gathers concurrent commits into rounds). */
  commit(staged: readonly StagedBlob[], extra: readonly BatchOp[] = []): Promise<void> {
    return this.committer.commit(staged, extra);
  }

  /** A blob a commit round made durable and recorded: visible from now on. */
  private committed(s: StagedBlob, loc: PackLocation | undefined): void {
    if (this.index.has(s.sha256)) return;
    this.index.set(s.sha256, s.size);
    this.bytes += s.size;
    if (loc && s.data) {
      this.packed.set(s.sha256, loc);
      this.packs.hold(loc.pack);
      // Just verified and likely asked for by the nodes below: served from memory at once,
      // unless the bytes are a slice of a larger buffer (a batch response's chunk), which
      // the cache would keep alive whole while counting only the slice.
      if (s.size <= HOT_BLOB_MAX && s.data.byteLength === s.data.buffer.byteLength) this.hot.set(s.sha256, s.data);
    }
  }

  async discard(staged: StagedBlob): Promise<void> {
    if (staged.data) return;
    await unlink(staged.tmpPath).catch(() => undefined);
  }

  async quarantine(sha256: string): Promise<void> {
    const loc = this.packed.get(sha256);
    const size = this.index.get(sha256) ?? 0;
    const aside = path.join(this.quarantineDir, `${sha256}.${Date.now()}`);
    if (loc) {
      // The bytes stay in the pack until it empties; a copy is kept aside for inspection.
      const bytes = await this.packs.read(loc, size).catch(() => undefined);
      await this.forget(sha256);
      if (bytes) await writeFile(aside, bytes).catch(() => undefined);
      return;
    }
    await this.forget(sha256);
    await rename(this.pathOf(sha256), aside).catch(() => undefined);
  }

  async remove(sha256: string): Promise<void> {
    const packed = this.packed.has(sha256);
    await this.forget(sha256);
    if (!packed) await unlink(this.pathOf(sha256)).catch(() => undefined);
  }

  list(): IterableIterator<[string, number]> {
    return this.index.entries();
  }

  get removals(): number {
    return this.removed;
  }

  stats(): { blobs: number; bytes: number } {
    return { blobs: this.index.size, bytes: this.bytes };
  }

  /** Forgets a blob whose file is gone (lost disk, removed by hand). */
  async forgetMissing(sha256: string): Promise<void> {
    await this.forget(sha256);
  }

  /** The record goes first: a crash after it leaves an unrecorded file, which start-up removes. */
  private async forget(sha256: string): Promise<void> {
    const size = this.index.get(sha256);
    if (size === undefined) return;
    this.hot.delete(sha256);
    await syncBatch(this.db, [{ type: 'del', sublevel: this.blobsDb, key: sha256 }]);
    this.index.delete(sha256);
    this.bytes -= size;
    this.removed++;
    const loc = this.packed.get(sha256);
    if (loc) {
      this.packed.delete(sha256);
      await this.packs.release(loc.pack);
    }
  }
}
