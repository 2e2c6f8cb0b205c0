import type { Readable } from 'node:stream';
import { BufferPool } from './buffer-pool.js';

const READ_AHEAD_BUDGET = 8 * 1024 * 1024;
const MAX_READ_AHEAD = 1024 * 1024;
const MIN_READ_AHEAD = 64 * 1024;

/**
 * One budget of read-ahead memory (8 MiB) shared by every blob read of the node: streams,
 * copies through reused buffers, relays of blobs still arriving. Large reads cost far less CPU
 * per byte (1 MiB vs 64 KiB: about 40% less measured), but each open read holds one; sharing
 * a fixed budget keeps memory flat however many clients download at once.
 */
export class ReadBudget {
  private openReads = 0;
  /** Bytes of read buffers held by copies under way. */
  private copyBytes = 0;
  /** Read buffers of copies, reused (buffer-pool.ts); idle ones stay within the budget. */
  private readonly pool = new BufferPool(READ_AHEAD_BUDGET);

  /** Blob reads open now (each holds a descriptor and a share of the budget). */
  get readsOpen(): number {
    return this.openReads;
  }
  /** Bytes of read buffers held by copies under way (within the budget, give or take 128 KiB a copy). */
  get buffersInUse(): number {
    return this.copyBytes;
  }
  /** Bytes of read buffers idle in the pool, waiting for the next copy. */
  get buffersIdle(): number {
    return this.pool.idleBytes;
  }

  /** The read-ahead of a stream opening now: its share of the budget. */
  streamHighWaterMark(): number {
    return Math.max(MIN_READ_AHEAD, Math.min(MAX_READ_AHEAD, Math.floor(READ_AHEAD_BUDGET / (this.openReads + 1))));
  }

  /** Counts `stream` as an open read until it closes. */
  track(stream: Readable): Readable {
    this.openReads++;
    stream.once('close', () => this.openReads--);
    return stream;
  }

  /**
   * Runs `copy` with a chunk size and the pool of read buffers, counted against the budget
   * while it runs (two chunks per copy).
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
      return await copy({ chunkBytes, pool: this.pool });
    } finally {
      this.openReads--;
      this.copyBytes -= 2 * chunkBytes;
    }
  }
}
