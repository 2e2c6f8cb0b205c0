import { createHash, type Hash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { SluiceError } from '../../src/errors.js';
import type { BlobStore, Download, IdleDownload, StagedBlob, StageLimits } from '../../src/store/blob-store.js';
import { HOT_BLOB_MAX } from '../../src/store/blob-sizes.js';
import { BufferPool } from '../../src/store/buffer-pool.js';
import type { DownloadReader, DownloadSink, ResumePoint } from '../../src/store/download.js';
import type { BatchOp } from '../../src/store/meta-db.js';
import { untilReleased } from '../../src/store/partial-files.js';

/** A download's bytes as the "disk" keeps them: what was written, and the checkpoint. */
interface HeldBytes {
  bytes: Buffer;
  length: number;
  checkpoint: number | undefined;
  touchedAt: number;
}

/** What outlives a restart of an in-memory store (a new store on the same disk). */
export interface MemoryDisk {
  readonly blobs: Map<string, Buffer>;
  readonly partials: Map<string, HeldBytes>;
}

export const emptyDisk = (): MemoryDisk => ({ blobs: new Map(), partials: new Map() });

/**
 * The BlobStore contract (src/store/blob-store.ts) held in memory, for module tests that want
 * a store without files: it passes the same contract suite as the file-system store. A
 * "restart" is a new store on the same `MemoryDisk`: committed blobs and the bytes of
 * downloads survive it (as a page cache survives a process crash); hashes remembered between
 * attempts do not. Records committed beside blobs (`extra`) have no database to go to here:
 * they are kept in `extras` for a test to look at.
 */
export class MemoryBlobStore implements BlobStore {
  readonly extras: BatchOp[] = [];
  private readonly staging = new Map<string, Buffer>();
  private readonly owners = new Map<string, Promise<void>>();
  /** Hashes of downloads' prefixes remembered between attempts (lost at a restart). */
  readonly memos = new Map<string, { offset: number; hash: Hash }>();
  private readonly heldAtStart = new Map<string, number>();
  private removed = 0;
  private nextStage = 0;

  constructor(readonly disk: MemoryDisk = emptyDisk()) {
    for (const [sha, held] of disk.partials) {
      // A partial without a checkpoint says nothing about how much of it is good.
      if (held.checkpoint === undefined) disk.partials.delete(sha);
      else this.heldAtStart.set(sha, held.length);
    }
  }

  has(sha256: string): boolean {
    return this.disk.blobs.has(sha256);
  }

  sizeOf(sha256: string): number | undefined {
    return this.disk.blobs.get(sha256)?.length;
  }

  async readSmall(sha256: string): Promise<Buffer | undefined> {
    return this.cachedSmall(sha256);
  }

  cachedSmall(sha256: string): Buffer | undefined {
    const b = this.disk.blobs.get(sha256);
    return b && b.length <= HOT_BLOB_MAX ? b : undefined;
  }

  async *readSmallInOrder(sha256s: readonly string[], maxSize: number): AsyncGenerator<[sha256: string, bytes: Buffer | undefined]> {
    for (const sha of sha256s) {
      const b = this.disk.blobs.get(sha);
      yield [sha, b && b.length <= maxSize ? b : undefined];
    }
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    const b = this.visible(sha256);
    return Readable.from([range ? b.subarray(range.start, range.end + 1) : b]);
  }

  async copyTo(sha256: string, dest: Writable, range?: { start: number; end: number }, onChunk?: (bytes: number) => void): Promise<void> {
    const b = this.visible(sha256);
    const slice = range ? b.subarray(range.start, range.end + 1) : b;
    await new Promise<void>((resolve, reject) => dest.write(slice, (err) => (err ? reject(err) : resolve())));
    onChunk?.(slice.length);
  }

  withReadBuffers<T>(copy: (o: { chunkBytes: number; pool: BufferPool }) => Promise<T>): Promise<T> {
    return copy({ chunkBytes: 64 * 1024, pool: new BufferPool(256 * 1024) });
  }

  async stage(source: AsyncIterable<Uint8Array>, limits: StageLimits = {}): Promise<StagedBlob> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of source) {
      limits.signal?.throwIfAborted();
      size += chunk.length;
      if (limits.maxBytes !== undefined && size > limits.maxBytes) throw new SluiceError('PAYLOAD_TOO_LARGE', `more than ${limits.maxBytes} bytes`);
      parts.push(Buffer.from(chunk));
    }
    const data = Buffer.concat(parts);
    const tmpPath = `memory:${this.nextStage++}`;
    this.staging.set(tmpPath, data);
    return { tmpPath, sha256: sha(data), size };
  }

  stageBuffer(sha256: string, data: Buffer): StagedBlob {
    return { tmpPath: '', sha256, size: data.length, data };
  }

  async commit(staged: readonly StagedBlob[], extra: readonly BatchOp[] = []): Promise<void> {
    const bytes = staged.map((s) => s.data ?? this.staging.get(s.tmpPath));
    if (bytes.some((b) => b === undefined)) throw new SluiceError('STORE_IO', 'cannot commit blobs to the store: a staged blob is gone');
    staged.forEach((s, i) => {
      this.staging.delete(s.tmpPath);
      if (!this.disk.blobs.has(s.sha256)) this.disk.blobs.set(s.sha256, bytes[i]!);
    });
    this.extras.push(...extra);
  }

  async discard(staged: StagedBlob): Promise<void> {
    this.staging.delete(staged.tmpPath);
  }

  async digest(sha256: string): Promise<{ sha256: string; size: number }> {
    const b = this.visible(sha256);
    return { sha256: sha(b), size: b.length };
  }

  async forgetMissing(sha256: string): Promise<void> {
    this.forget(sha256);
  }

  async quarantine(sha256: string): Promise<void> {
    this.forget(sha256);
  }

  async remove(sha256: string): Promise<void> {
    this.forget(sha256);
  }

  list(): IterableIterator<[string, number]> {
    return [...this.disk.blobs].map(([sha256, b]): [string, number] => [sha256, b.length])[Symbol.iterator]();
  }

  get removals(): number {
    return this.removed;
  }

  stats(): { blobs: number; bytes: number } {
    let bytes = 0;
    for (const b of this.disk.blobs.values()) bytes += b.length;
    return { blobs: this.disk.blobs.size, bytes };
  }

  async close(): Promise<void> {}

  async openDownload(sha256: string, size: number, signal?: AbortSignal): Promise<Download> {
    for (;;) {
      signal?.throwIfAborted();
      const held = this.owners.get(sha256);
      if (!held) break;
      await untilReleased(held, signal);
    }
    let end!: () => void;
    const done = new Promise<void>((resolve) => (end = resolve));
    this.owners.set(sha256, done);
    this.heldAtStart.delete(sha256);
    return new MemoryDownload(this, sha256, size, () => {
      if (this.owners.get(sha256) === done) this.owners.delete(sha256);
      end();
    });
  }

  partialBytes(sha256: string): number {
    return this.heldAtStart.get(sha256) ?? 0;
  }

  async idleDownloads(): Promise<IdleDownload[]> {
    const now = Date.now();
    return [...this.disk.partials].filter(([sha256]) => !this.owners.has(sha256)).map(([sha256, h]) => ({ sha256, bytes: h.length, idleMs: now - h.touchedAt }));
  }

  async dropDownload(sha256: string): Promise<boolean> {
    if (this.owners.has(sha256)) return false;
    this.disk.partials.delete(sha256);
    this.memos.delete(sha256);
    return true;
  }

  private visible(sha256: string): Buffer {
    const b = this.disk.blobs.get(sha256);
    if (!b) throw new SluiceError('BLOB_NOT_FOUND', `blob ${sha256} is not stored in this store`);
    return b;
  }

  private forget(sha256: string): void {
    if (this.disk.blobs.delete(sha256)) this.removed++;
  }
}

/** A download held in memory (the same promises as the file-system store's, download.ts). */
class MemoryDownload implements Download {
  private ended = false;

  constructor(
    private readonly store: MemoryBlobStore,
    readonly sha256: string,
    readonly size: number,
    private readonly endOwnership: () => void,
  ) {}

  private get held(): HeldBytes | undefined {
    return this.store.disk.partials.get(this.sha256);
  }

  private get memos() {
    return this.store.memos;
  }

  async resumePoint(signal?: AbortSignal): Promise<ResumePoint> {
    const held = this.held;
    if (!held || held.checkpoint === undefined || held.length < held.checkpoint || held.length > this.size) {
      await this.discard();
      return { offset: 0, durable: 0, hash: createHash('sha256') };
    }
    const memo = this.memos.get(this.sha256);
    if (memo && memo.offset === held.length) return { offset: held.length, durable: held.checkpoint, hash: memo.hash.copy() };
    signal?.throwIfAborted();
    return { offset: held.length, durable: held.checkpoint, hash: createHash('sha256').update(held.bytes.subarray(0, held.length)) };
  }

  remember(offset: number, hash: Hash): void {
    this.memos.set(this.sha256, { offset, hash: hash.copy() });
  }

  async openForWrite(offset: number): Promise<DownloadSink> {
    this.memos.delete(this.sha256);
    let held = this.held;
    if (!held || offset === 0) {
      held = { bytes: Buffer.alloc(this.size), length: 0, checkpoint: undefined, touchedAt: Date.now() };
      this.store.disk.partials.set(this.sha256, held);
    }
    const target = held;
    return {
      write: async (buffer, at, length, position) => {
        if (position + length > this.size) throw Object.assign(new Error('write beyond the blob'), { code: 'EINVAL' });
        buffer.copy(target.bytes, position, at, at + length);
        target.length = Math.max(target.length, position + length);
        target.touchedAt = Date.now();
        return { bytesWritten: length };
      },
      sync: async () => {},
      close: async () => {},
    };
  }

  async checkpoint(offset: number): Promise<void> {
    const held = this.held;
    if (held) held.checkpoint = offset;
  }

  async rollback(durable: number): Promise<void> {
    this.memos.delete(this.sha256);
    const held = this.held;
    if (!held) return;
    held.length = durable;
    held.checkpoint = durable;
  }

  async discard(): Promise<void> {
    this.memos.delete(this.sha256);
    this.store.disk.partials.delete(this.sha256);
  }

  async openForRead(): Promise<DownloadReader> {
    const source = () => this.held?.bytes ?? this.store.disk.blobs.get(this.sha256);
    if (!source()) throw Object.assign(new Error(`no bytes of ${this.sha256}`), { code: 'ENOENT' });
    return {
      read: async (buffer, at, length, position) => {
        const from = source();
        if (!from) throw Object.assign(new Error(`no bytes of ${this.sha256}`), { code: 'ENOENT' });
        return { bytesRead: from.copy(buffer, at, position, Math.min(from.length, position + length)) };
      },
      close: async () => {},
    };
  }

  async commit(extra: readonly BatchOp[] = []): Promise<void> {
    try {
      const held = this.held;
      const data = held ? held.bytes.subarray(0, held.length) : Buffer.alloc(0);
      await this.store.commit([this.store.stageBuffer(this.sha256, data)], extra);
      this.store.disk.partials.delete(this.sha256);
      this.memos.delete(this.sha256);
    } finally {
      this.release();
    }
  }

  async abandon(): Promise<void> {
    try {
      await this.discard();
    } finally {
      this.release();
    }
  }

  release(): void {
    if (this.ended) return;
    this.ended = true;
    this.endOwnership();
  }
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The in-memory store as the contract suite drives it: a reopen is a new store on the same disk. */
export function memoryUnderTest(disk: MemoryDisk = emptyDisk()) {
  const store = new MemoryBlobStore(disk);
  return {
    store,
    close: async () => {},
    reopen: async () => memoryUnderTest(disk),
    tearTail: async (sha256: string, from: number) => {
      const held = disk.partials.get(sha256);
      if (held) held.bytes.fill(0x5a, from, held.length);
    },
    renameWithoutRecord: async (sha256: string) => {
      // The bytes left the partial and were never recorded: a restart finds neither.
      disk.partials.delete(sha256);
    },
  };
}
