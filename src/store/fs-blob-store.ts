import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import type { Readable } from 'node:stream';
import { SluiceError, toSluiceError } from '../errors.js';
import type { BlobStore, StagedBlob, StageLimits } from './blob-store.js';
import type { BatchOp, BlobMeta, MetaDb, Sublevel } from './meta-db.js';
import { sublevels, syncBatch } from './meta-db.js';
import { fsyncDir, fsyncFile, writeHashed } from './hashed-write.js';
import { PackFiles, readFully, type PackLocation } from './pack-files.js';
import { PartialFiles } from './partial-files.js';
import { BufferPool } from './buffer-pool.js';
import { copyFileRange } from './copy-file-range.js';
import type { Writable } from 'node:stream';

interface PendingCommit {
  staged: readonly StagedBlob[];
  readonly extra: readonly BatchOp[];
  resolve(): void;
  reject(err: unknown): void;
}

const SHA_FILE = /^[0-9a-f]{64}$/;
/** Blobs up to this size are served from memory (readSmall); larger ones stream from disk. */
export const HOT_BLOB_MAX = 64 * 1024;
/** Replicated blobs up to this size go into pack files (see pack-files.ts). */
export const PACKED_BLOB_MAX = 32 * 1024;

/** A blob that lives in a pack file rather than a file of its own (empty blobs stay files). */
export const packable = (size: number): boolean => size > 0 && size <= PACKED_BLOB_MAX;
const HOT_CACHE_BYTES = 32 * 1024 * 1024;
const READ_AHEAD_BUDGET = 8 * 1024 * 1024;
const MAX_READ_AHEAD = 1024 * 1024;
const MIN_READ_AHEAD = 64 * 1024;
/** Neighbouring packed blobs are read together up to this many bytes (readSmallInOrder). */
const READ_RUN_MAX = 256 * 1024;

/**
 * Layout under the data directory:
 *   blobs/ab/<sha256>   visible blobs (two-hex fan-out keeps directories small)
 *   tmp/                staging files, on the same filesystem so rename is atomic
 *   quarantine/         blobs that failed re-verification, kept for inspection
 *   partial/            downloads under way, owned through `partials`
 *   packs/              small replicated blobs, many per file (`packs`)
 */
export class FsBlobStore implements BlobStore {
  private readonly index = new Map<string, number>();
  /** Blobs that live in a pack file, and where. */
  private readonly packed = new Map<string, PackLocation>();
  private readonly pendingCommits: PendingCommit[] = [];
  private committing = false;
  private readonly knownDirs = new Set<string>();
  /** Small blobs recently read, served from memory (bounded; content-addressed, so never stale). */
  /** Small blobs by sha256, least recently used out past HOT_CACHE_BYTES. */
  private readonly hot = new LRUCache<string, Buffer>({ maxSize: HOT_CACHE_BYTES, sizeCalculation: (b) => Math.max(1, b.length) });
  private openReads = 0;
  /** Bytes of read buffers held by copyTo calls under way. */
  private copyBytes = 0;
  /** Read buffers of copyTo, reused (buffer-pool.ts); idle ones stay within the read-ahead budget. */
  private readonly readBuffers = new BufferPool(READ_AHEAD_BUDGET);
  /** Blob reads open now (each holds a descriptor and a share of the read-ahead budget). */
  get readsOpen(): number {
    return this.openReads;
  }
  /** Bytes of read buffers held by copyTo calls under way (within the read-ahead budget, give or take 128 KiB a copy). */
  get readBuffersInUse(): number {
    return this.copyBytes;
  }
  /** Bytes of read buffers idle in the pool, waiting for the next copyTo. */
  get readBuffersIdle(): number {
    return this.readBuffers.idleBytes;
  }
  private bytes = 0;
  private removed = 0;
  private readonly blobsDb: Sublevel;
  readonly blobDir: string;
  readonly tmpDir: string;
  readonly quarantineDir: string;
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
    this.partials = new PartialFiles(db, dataDir);
    this.packs = new PackFiles(dataDir);
  }

  /**
   * Opens the store and reconciles disk with LevelDB: staging files of a crashed write are
   * removed; a record whose file is missing or the wrong size is dropped (and reported);
   * a file without a record is adopted when `isWanted` says so and its bytes hash to its
   * name, deleted otherwise.
   */
  static async open(db: MetaDb, dataDir: string, isWanted: (sha256: string) => boolean = () => false): Promise<{ store: FsBlobStore; dropped: string[]; adopted: string[]; deleted: string[] }> {
    const store = new FsBlobStore(db, dataDir);
    const dropped: string[] = [];
    const adopted: string[] = [];
    const deleted: string[] = [];
    try {
      await mkdir(store.blobDir, { recursive: true });
      await mkdir(store.quarantineDir, { recursive: true });
      await mkdir(store.partials.dir, { recursive: true });
      await rm(store.tmpDir, { recursive: true, force: true });
      await mkdir(store.tmpDir, { recursive: true });
      const packIds = await store.packs.open();
      const packSizes = new Map<number, number>();
      for await (const [sha, meta] of store.blobsDb.iterator() as AsyncIterable<[string, BlobMeta]>) {
        if (meta.pack !== undefined) {
          // A packed blob is there when its pack holds its whole range (it was synced first).
          if (!packSizes.has(meta.pack)) packSizes.set(meta.pack, await store.packs.sizeOf(meta.pack));
          if (packSizes.get(meta.pack)! < (meta.offset ?? 0) + meta.size) {
            dropped.push(sha);
            continue;
          }
          store.packed.set(sha, { pack: meta.pack, offset: meta.offset ?? 0 });
          store.packs.hold(meta.pack);
          store.index.set(sha, meta.size);
          store.bytes += meta.size;
          continue;
        }
        const size = await stat(store.pathOf(sha)).then((s) => s.size, () => -1);
        if (size !== meta.size) {
          dropped.push(sha);
          continue;
        }
        store.index.set(sha, size);
        store.bytes += size;
      }
      await store.packs.removeUnused(packIds);
      await syncBatch(db, dropped.map((key) => ({ type: 'del', sublevel: store.blobsDb, key })));
      for (const fan of await readdir(store.blobDir)) {
        for (const name of await readdir(path.join(store.blobDir, fan))) {
          if (store.index.has(name)) continue;
          const file = path.join(store.blobDir, fan, name);
          if (SHA_FILE.test(name) && isWanted(name) && (await hashFile(file)) === name) {
            const { size } = await stat(file);
            await syncBatch(db, [{ type: 'put', sublevel: store.blobsDb, key: name, value: { size, storedAt: Date.now() } satisfies BlobMeta }]);
            store.index.set(name, size);
            store.bytes += size;
            adopted.push(name);
          } else {
            await unlink(file);
            deleted.push(name);
          }
        }
      }
    } catch (err) {
      throw toSluiceError(err, `cannot open the blob store in ${dataDir}`);
    }
    return { store, dropped, adopted, deleted };
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
    // Large reads cost far less CPU per byte (1 MiB vs 64 KiB: about 40% less measured), but
    // each open stream buffers one: read-ahead shares a fixed budget, so memory stays flat
    // however many clients download at once.
    const highWaterMark = Math.max(MIN_READ_AHEAD, Math.min(MAX_READ_AHEAD, Math.floor(READ_AHEAD_BUDGET / (this.openReads + 1))));
    const loc = this.packed.get(sha256);
    if (loc) return this.packs.stream(loc, range?.start ?? 0, range?.end ?? this.index.get(sha256)! - 1);
    const stream = createReadStream(this.pathOf(sha256), { ...range, highWaterMark });
    this.openReads++;
    stream.once('close', () => this.openReads--);
    return stream;
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

  /**
   * Runs `copy` with a chunk size and the pool of read buffers, counted against the read-ahead
   * budget while it runs (two chunks per copy): blobs sent by copyTo, and blobs relayed from a
   * partial file while they arrive, share one budget.
   */
  async withReadBuffers<T>(copy: (o: { chunkBytes: number; pool: BufferPool }) => Promise<T>): Promise<T> {
    // A share of what the budget has left, so a hundred downloads starting at once do not
    // each take a share sized for the few before them; in powers of two, so buffers of
    // earlier copies fit later ones.
    const share = Math.min(READ_AHEAD_BUDGET / (this.openReads + 1), READ_AHEAD_BUDGET - this.copyBytes) / 2;
    const chunkBytes = Math.max(MIN_READ_AHEAD, Math.min(MAX_READ_AHEAD, 2 ** Math.floor(Math.log2(Math.max(1, share)))));
    this.openReads++;
    this.copyBytes += 2 * chunkBytes;
    try {
      return await copy({ chunkBytes, pool: this.readBuffers });
    } finally {
      this.openReads--;
      this.copyBytes -= 2 * chunkBytes;
    }
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

  /**
   * Makes staged blobs visible. Concurrent commits are gathered into one round (group
   * commit): renames, one fsync per directory, one synced LevelDB batch for all of them, so
   * thousands of small blobs do not pay three fsyncs each. A round never mixes in a commit
   * that arrives after it started. Each commit succeeds or fails on its own: a file that
   * cannot be renamed fails its commit only (whose renamed files are taken back), never the
   * others of the round.
   */
  commit(staged: readonly StagedBlob[], extra: readonly BatchOp[] = []): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingCommits.push({ staged, extra, resolve, reject });
      if (!this.committing) void this.commitRounds();
    });
  }

  private async commitRounds(): Promise<void> {
    this.committing = true;
    try {
      while (this.pendingCommits.length) await this.commitRound(this.pendingCommits.splice(0, 512));
    } finally {
      this.committing = false;
    }
  }

  private async commitRound(round: PendingCommit[]): Promise<void> {
    const placed = new Set<string>();
    const dirs = new Set<string>();
    const ok: PendingCommit[] = [];
    // Durable bytes before the rename that makes them visible; in parallel, so the
    // filesystem can fold them into few journal commits.
    // Small uploads (publish, restore) go into the packs too: their bytes are read back from
    // the staging file, which the round then removes.
    const readBack = (s: StagedBlob) => !s.data && packable(s.size) && !this.index.has(s.sha256);
    for (const c of round) {
      // Most commits (replicated small blobs) hold their bytes already: no await for them.
      if (!c.staged.some(readBack)) continue;
      c.staged = await Promise.all(
        c.staged.map(async (s) => {
          if (!readBack(s)) return s;
          const data = await readWhole(s.tmpPath, s.size).catch(() => undefined);
          if (!data) return s;
          await unlink(s.tmpPath).catch(() => undefined);
          return { ...s, tmpPath: '', data };
        }),
      );
    }
    const synced = await Promise.all(round.flatMap((c) => c.staged).map((s) => (s.unsynced && !s.data ? fsyncFile(s.tmpPath).then(() => undefined, (err: unknown) => err) : undefined)));
    // Small blobs of the whole round: one append and one fsync of the current pack.
    const packedNow = new Map<string, PackLocation>();
    const toPack = round.flatMap((c) => c.staged).filter((s) => s.data && !this.index.has(s.sha256));
    const unique = [...new Map(toPack.map((s) => [s.sha256, s])).values()];
    let packFailure: unknown;
    if (unique.length) {
      try {
        const locs = await this.packs.append(unique.map((s) => s.data!));
        unique.forEach((s, i) => packedNow.set(s.sha256, locs[i]!));
      } catch (err) {
        packFailure = err;
      }
    }
    let k = 0;
    for (const c of round) {
      const failures = c.staged.map(() => synced[k++]).filter((e) => e !== undefined);
      const mine: string[] = [];
      try {
        if (failures.length) throw failures[0];
        if (packFailure && c.staged.some((s) => s.data)) throw packFailure;
        for (const s of c.staged) {
          if (s.data) {
            if (!this.index.has(s.sha256) && !placed.has(s.sha256) && packedNow.has(s.sha256)) placed.add(s.sha256);
            continue;
          }
          if (this.index.has(s.sha256) || placed.has(s.sha256)) {
            await unlink(s.tmpPath).catch(() => undefined);
            continue;
          }
          const dest = this.pathOf(s.sha256);
          const dir = path.dirname(dest);
          if (!this.knownDirs.has(dir)) {
            await mkdir(dir, { recursive: true });
            this.knownDirs.add(dir);
          }
          await rename(s.tmpPath, dest);
          mine.push(s.sha256);
          placed.add(s.sha256);
          dirs.add(dir);
        }
        ok.push(c);
      } catch (err) {
        // Nothing of a failed commit may stay: an unrecorded file would be deleted at
        // start-up anyway, but until then it would look like a blob on disk.
        for (const sha of mine) {
          placed.delete(sha);
          await unlink(this.pathOf(sha)).catch(() => undefined);
        }
        for (const s of c.staged) if (!s.data) await unlink(s.tmpPath).catch(() => undefined);
        c.reject(toSluiceError(err, 'cannot commit blobs to the store', 'STORE_IO'));
      }
    }
    if (ok.length === 0) return;
    const fresh = ok.flatMap((c) => c.staged).filter((s) => placed.has(s.sha256) && !this.index.has(s.sha256));
    try {
      // The renames must be durable before LevelDB says the blobs exist.
      await Promise.all([...dirs].map((dir) => fsyncDir(dir)));
      const storedAt = Date.now();
      await syncBatch(this.db, [
        ...fresh.map((s) => {
          const loc = packedNow.get(s.sha256);
          return { type: 'put' as const, sublevel: this.blobsDb, key: s.sha256, value: (loc ? { size: s.size, storedAt, pack: loc.pack, offset: loc.offset } : { size: s.size, storedAt }) satisfies BlobMeta };
        }),
        ...ok.flatMap((c) => c.extra),
      ]);
    } catch (err) {
      const e = toSluiceError(err, 'cannot commit blobs to the store', 'STORE_IO');
      for (const c of ok) c.reject(e);
      return;
    }
    for (const s of fresh) {
      if (this.index.has(s.sha256)) continue;
      this.index.set(s.sha256, s.size);
      this.bytes += s.size;
      const loc = packedNow.get(s.sha256);
      if (loc && s.data) {
        this.packed.set(s.sha256, loc);
        this.packs.hold(loc.pack);
        // Just verified and likely asked for by the nodes below: served from memory at once,
        // unless the bytes are a slice of a larger buffer (a batch response's chunk), which
        // the cache would keep alive whole while counting only the slice.
        if (s.size <= HOT_BLOB_MAX && s.data.byteLength === s.data.buffer.byteLength) this.hot.set(s.sha256, s.data);
      }
    }
    for (const c of ok) c.resolve();
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

/**
 * A whole small file of known size: open, read, close (readFile adds an fstat and a second
 * read, each a trip through the thread pool).
 */
async function readWhole(file: string, size: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    return await readFully(fh, size, 0, file);
  } finally {
    await fh.close();
  }
}

export async function hashFile(file: string): Promise<string> {
  return (await digestFile(file)).sha256;
}

/** sha256 and length of a file, read in 1 MiB slices. */
export async function digestFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const fh = await open(file, 'r');
  let size = 0;
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), size };
}
