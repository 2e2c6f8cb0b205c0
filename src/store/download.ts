import type { Hash } from 'node:crypto';
import type { BatchOp } from './meta-db.js';

/** Where a resumed download continues, with the hash of everything before that point. */
export interface ResumePoint {
  readonly offset: number;
  /** Bytes known durable (synced and checkpointed); a torn tail falls back to here. */
  readonly durable: number;
  readonly hash: Hash;
}

/** Where an attempt writes a download's bytes, at positions: a file, or memory. */
export interface DownloadSink {
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** Makes every byte written so far durable (before a checkpoint names them). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Where a relay reads a download's bytes from while it arrives (and after it was committed). */
export interface DownloadReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/**
 * What one attempt at a download writes through (transfer code: download/fetch-blob.ts). A
 * node's store hands it out as part of a `Download`; the agent's cache files are one too.
 * Promises:
 * - a resume point never claims more than is held, and never less than the durable
 *   checkpoint unless bytes were lost;
 * - within one process a retry may reuse the hash of what earlier attempts wrote
 *   (`remember`); after a restart the prefix is hashed again, and that stops on `signal`.
 */
export interface DownloadTarget {
  readonly sha256: string;
  /** The catalog's size of the blob. */
  readonly size: number;
  resumePoint(signal?: AbortSignal): Promise<ResumePoint>;
  /** Keeps the hash of the first `offset` bytes for the next attempt in this process. */
  remember(offset: number, hash: Hash): void;
  /** Opens for writing from `offset` (0 empties what is held and forgets its checkpoint). */
  openForWrite(offset: number): Promise<DownloadSink>;
  /** Records that the first `offset` bytes are durable (the caller synced them). */
  checkpoint(offset: number): Promise<void>;
  /** Cuts a torn tail back to the durable checkpoint. */
  rollback(durable: number): Promise<void>;
  /** Forgets what is held (bytes, checkpoint, hash): the next attempt starts from zero. */
  discard(): Promise<void>;
}

/**
 * A blob's download, held by one owner from `BlobStore.openDownload` until it ends in one of
 * three ways: `commit` (the verified bytes become the blob, the partial and its checkpoint
 * go in the same step), `abandon` (the bytes and checkpoint are dropped: nobody wants the
 * blob) or `release` (kept for a later resume: paused, failed, the node stopping). Another
 * owner of the same blob waits until then.
 */
export interface Download extends DownloadTarget {
  /**
   * Opens the bytes held for reading, for relays: valid after the commit renamed them into
   * place, and it finds them there when asked after that. Rejects with ENOENT when they are
   * gone (discarded, or the commit failed).
   */
  openForRead(): Promise<DownloadReader>;
  /**
   * Makes the verified bytes the blob (with `extra` records in the same batch), drops the
   * partial and its checkpoint, and ends the ownership whatever the outcome.
   */
  commit(extra?: readonly BatchOp[]): Promise<void>;
  /** Drops the bytes and the checkpoint, and ends the ownership. */
  abandon(): Promise<void>;
  /** Ends the ownership and keeps the bytes for a later resume. Idempotent. */
  release(): void;
}

/** A download begun and held by nobody now (paused, interrupted, left by a crash). */
export interface IdleDownload {
  readonly sha256: string;
  readonly bytes: number;
  /** Since its bytes last changed. */
  readonly idleMs: number;
}
