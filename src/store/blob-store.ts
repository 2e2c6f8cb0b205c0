import type { Readable, Writable } from 'node:stream';
import type { BatchOp } from './meta-db.js';
import type { BufferPool } from './buffer-pool.js';

/**
 * Content-addressed blobs on local disk. Promises:
 * - a blob is visible (has/sizeOf/read) only once its bytes were hashed, fsynced, renamed
 *   into place and recorded in LevelDB; a crash at any instant leaves the whole blob or none;
 * - no blob is ever held in memory: data flows through in chunks.
 * Leaves out: where bytes come from (uploads, transfers) and which blobs a node should hold.
 */
export interface BlobStore {
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

export interface StageLimits {
  /** Abort with PAYLOAD_TOO_LARGE beyond this many bytes. */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

export interface StagedBlob {
  /** The staging file; empty for a blob staged in memory (`data`). */
  readonly tmpPath: string;
  readonly sha256: string;
  readonly size: number;
  /** Written but not fsynced yet: commit fsyncs it (with the rest of its round) before the rename. */
  readonly unsynced?: boolean;
  /** A small blob's verified bytes, committed into a pack file rather than a file of its own. */
  readonly data?: Buffer;
}
