import { createHash, type Hash } from 'node:crypto';
import { open, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { SluiceError } from '../errors.js';
import type { DownloadReader, DownloadSink, DownloadTarget, ResumePoint } from './download.js';
import type { StagedBlob } from './staged-blob.js';

export interface Checkpoint {
  /** Bytes of the partial file known to be on disk (fsynced before this was written). */
  readonly offset: number;
  readonly updatedAt: number;
}

/**
 * Where a partial download records its durable progress (LevelDB on nodes, small files on
 * endpoints). Leaves out: the bytes themselves, which live in the partial file.
 */
export interface CheckpointStore {
  get(sha256: string): Promise<Checkpoint | undefined>;
  set(sha256: string, offset: number): Promise<void>;
  delete(sha256: string): Promise<void>;
}

/** The hash of a partial's first `offset` bytes, kept between attempts of one process. */
export interface HashMemo {
  readonly offset: number;
  readonly hash: Hash;
}

const HASH_BUFFER = 1024 * 1024;

/**
 * One blob being received into a partial file, the download target (download.ts) of files on
 * disk: the only code that opens, truncates or deletes it. Within one process a retry reuses
 * the hash of what earlier attempts wrote (no re-read of a 60 GB prefix per retry).
 * `staged()` hands the file to the store's commit, which renames it into place.
 * Leaves out: the network, and who may hold a partial (PartialFiles hands out one owner per blob).
 */
export class PartialFile implements DownloadTarget {
  /** False once this object knows no checkpoint is recorded (saves a synced delete per fresh blob). */
  private mayHaveCheckpoint = true;
  /**
   * Bytes may have been written since the last sync (by this attempt, or by an earlier process
   * whose file is resumed): the commit syncs them with the rest of its round.
   */
  private unsynced = true;

  constructor(
    readonly sha256: string,
    readonly size: number,
    readonly path: string,
    private readonly checkpoints: CheckpointStore,
    private readonly memos: Map<string, HashMemo> = new Map(),
  ) {}

  /**
   * Where to resume. After a process crash the file's bytes are all good, including those
   * written after the last checkpoint (the page cache survives a SIGKILL), so resuming from
   * its length wastes nothing. Only a power loss can tear the unsynced tail; the final hash
   * check catches that and the retry then starts from `durable`.
   */
  async resumePoint(signal?: AbortSignal): Promise<ResumePoint> {
    const checkpoint = await this.checkpoints.get(this.sha256);
    const onDisk = await stat(this.path).then((s) => s.size, () => -1);
    // A fresh blob (no checkpoint, no file) has nothing to discard: two synced LevelDB
    // writes and an unlink per blob were most of the cost of 10,000 small blobs.
    if (!checkpoint && onDisk < 0) {
      this.mayHaveCheckpoint = false;
      return { offset: 0, durable: 0, hash: createHash('sha256') };
    }
    if (!checkpoint || onDisk < checkpoint.offset || onDisk > this.size) {
      await this.discard();
      return { offset: 0, durable: 0, hash: createHash('sha256') };
    }
    const memo = this.memos.get(this.sha256);
    if (memo && memo.offset === onDisk) return { offset: onDisk, durable: checkpoint.offset, hash: memo.hash.copy() };
    const hash = createHash('sha256');
    await this.hashPrefix(onDisk, hash, signal);
    return { offset: onDisk, durable: checkpoint.offset, hash };
  }

  /** Remembers the hash of the first `offset` bytes for the next attempt in this process. */
  remember(offset: number, hash: Hash): void {
    this.memos.set(this.sha256, { offset, hash: hash.copy() });
  }

  /** Opens the file for writing from `offset` (0 creates or empties it). */
  async openForWrite(offset: number): Promise<DownloadSink> {
    this.memos.delete(this.sha256);
    if (offset === 0 && this.mayHaveCheckpoint) {
      await this.checkpoints.delete(this.sha256);
      this.mayHaveCheckpoint = false;
    }
    const fh = await open(this.path, offset > 0 ? 'r+' : 'w', 0o644);
    return {
      write: (buffer, at, length, position) => {
        this.unsynced = true;
        return fh.write(buffer, at, length, position);
      },
      sync: async () => {
        await fh.sync();
        this.unsynced = false;
      },
      close: () => fh.close(),
    };
  }

  /** Opens the file for reading (cut-through relaying); the handle stays valid after the commit renames it. */
  openForRead(): Promise<FileHandle & DownloadReader> {
    return open(this.path, 'r');
  }

  /** Records that the first `offset` bytes are durable (the caller fsynced them). */
  checkpoint(offset: number): Promise<void> {
    this.mayHaveCheckpoint = true;
    return this.checkpoints.set(this.sha256, offset);
  }

  /** Cuts a torn tail back to the durable checkpoint. */
  async rollback(durable: number): Promise<void> {
    this.memos.delete(this.sha256);
    await truncate(this.path, durable);
    this.mayHaveCheckpoint = true;
    await this.checkpoints.set(this.sha256, durable);
  }

  /** Forgets the partial: its checkpoint, its hash and its file. */
  async discard(): Promise<void> {
    this.memos.delete(this.sha256);
    await this.checkpoints.delete(this.sha256).catch(() => undefined);
    this.mayHaveCheckpoint = false;
    await unlink(this.path).catch(() => undefined);
  }

  /** The verified, complete file as a staged blob for the store's commit (which syncs it if need be). */
  staged(): StagedBlob {
    this.memos.delete(this.sha256);
    return { tmpPath: this.path, sha256: this.sha256, size: this.size, unsynced: this.unsynced };
  }

  private async hashPrefix(length: number, hash: Hash, signal?: AbortSignal): Promise<void> {
    if (length === 0) return;
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.allocUnsafe(HASH_BUFFER);
      let done = 0;
      while (done < length) {
        // A restart re-hashes what it has; a stop must not wait for gigabytes of it.
        signal?.throwIfAborted();
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - done), done);
        if (bytesRead === 0) throw new SluiceError('STORE_IO', `partial file ${this.path} ended at ${done} of ${length} bytes`);
        hash.update(buf.subarray(0, bytesRead));
        done += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
}
