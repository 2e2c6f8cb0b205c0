import type { Readable, Writable } from 'node:stream';
import type { BatchOp } from './meta-db.js';
import type { BufferPool } from './buffer-pool.js';
import type { Download, IdleDownload } from './download.js';
import type { StagedBlob, StageLimits } from './staged-blob.js';

export type { StagedBlob, StageLimits } from './staged-blob.js';
export type { Download, IdleDownload } from './download.js';

/**
 * Content-addressed blobs of one node. Promises (test/contract/blob-store-contract.ts checks
 * them for every implementation):
 * - a blob is visible (has/sizeOf/read) only once its bytes were hashed, made durable and
 *   recorded, with the records committed beside it; a crash at any instant leaves the whole
 *   blob or none;
 * - large blobs are never held in memory whole: they flow through in chunks, within one
 *   bounded read budget. Small ones (≤ 64 KiB) may be: a bounded cache serves them
 *   (readSmall), and a small blob verified in memory is committed from there (stageBuffer);
 * - a download has one owner at a time (openDownload waits for the previous one to end), is
 *   resumed after a restart from what it held (falling back to its durable checkpoint when
 *   its tail is torn), and ends in a commit that drops its partial bytes and checkpoint in
 *   the same step, an abandon that drops them, or a release that keeps them.
 * Leaves out: where bytes come from (uploads, transfers) and which blobs a node should hold.
 */
export interface BlobStore {
  /** Opens blob `sha256`'s download (download.ts), waiting while another owner holds it. */
  openDownload(sha256: string, size: number, signal?: AbortSignal): Promise<Download>;
  /** Bytes a download held when the store opened, until it is opened again (progress of a queued one). */
  partialBytes(sha256: string): number;
  /** Downloads begun that no one holds now (paused, interrupted, left behind). */
  idleDownloads(): Promise<IdleDownload[]>;
  /** Drops an idle download's bytes and checkpoint; false (and nothing done) while it is held. */
  dropDownload(sha256: string): Promise<boolean>;
  /** A small blob already verified in memory, to be committed with the others of its round. */
  stageBuffer(sha256: string, data: Buffer): StagedBlob;
  /** sha256 and length of a stored blob's bytes as they are on disk now (verify). */
  digest(sha256: string): Promise<{ sha256: string; size: number }>;
  /** Forgets a blob whose bytes are gone (lost disk, removed by hand). */
  forgetMissing(sha256: string): Promise<void>;
  close(): Promise<void>;
  has(sha256: string): boolean;
  sizeOf(sha256: string): number | undefined;
  /** The whole blob from memory if it is small (≤ 64 KiB), else undefined: stream it with read(). */
  readSmall(sha256: string): Promise<Buffer | undefined>;
  /**
   * Blobs of up to `maxSize` bytes in the order asked, each with its bytes, or undefined when
   * not held as a small blob (a batch response); neighbours on disk are read together.
   */
  readSmallInOrder(sha256s: readonly string[], maxSize: number): AsyncGenerator<[sha256: string, bytes: Buffer | undefined]>;
  /** A small blob readSmall has already brought into memory, or undefined (never waits). */
  cachedSmall(sha256: string): Buffer | undefined;
  /** Bytes [start, end] inclusive of a visible blob. */
  read(sha256: string, range?: { start: number; end: number }): Readable;
  /**
   * Writes bytes [start, end] inclusive (default: all) of a visible blob to `dest`, without
   * ending it; resolves once `dest` took the last byte. For large blobs, where it reuses its
   * buffers rather than allocating one per chunk as read() does.
   */
  copyTo(sha256: string, dest: Writable, range?: { start: number; end: number }, onChunk?: (bytes: number) => void): Promise<void>;
  /** Lends reused read buffers (and a chunk size within the node's read budget) to `copy`. */
  withReadBuffers<T>(copy: (o: { chunkBytes: number; pool: BufferPool }) => Promise<T>): Promise<T>;
  /** Streams `source` into a staging file, hashing as it goes. Not visible until commit. */
  stage(source: AsyncIterable<Uint8Array>, limits?: StageLimits): Promise<StagedBlob>;
  /** Makes staged blobs visible and writes `extra` in the same LevelDB batch. */
  commit(staged: readonly StagedBlob[], extra?: readonly BatchOp[]): Promise<void>;
  discard(staged: StagedBlob): Promise<void>;
  /** Moves a blob aside (failed verification) and forgets it. */
  quarantine(sha256: string): Promise<void>;
  remove(sha256: string): Promise<void>;
  list(): IterableIterator<[string, number]>;
  /**
   * How many blobs were forgotten since the node started (removed, quarantined, lost). A
   * conclusion drawn from has() holds while this is unchanged and none of the blobs it found
   * missing has arrived since.
   */
  readonly removals: number;
  stats(): { blobs: number; bytes: number };
}
