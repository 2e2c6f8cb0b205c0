/**
 * Many small blobs in one response (`POST /v1/blobs/batch`): the request names up to
 * BLOB_BATCH_MAX blobs, `{ "sha256": [...] }`; the response carries, in the order asked, one
 * frame per blob: `SHA256 SIZE\n` followed by SIZE bytes when the node holds it as a small
 * blob, `SHA256 -\n` when it does not (ask with GET /v1/blobs/SHA256 instead), and, to a
 * caller that sent BATCH_PENDING_HEADER, `SHA256 ~\n` when the node is fetching it itself
 * (ask again shortly). Each receiver hashes every blob it takes: the frame says what the
 * bytes claim to be, nothing more.
 */
export const BLOB_BATCH_MAX = 64;
export const BLOB_BATCH_TYPE = 'application/vnd.sluice.blob-batch';
/** Sent by a caller that understands `~` frames (a node that has not answered `-` for a blob it is fetching). */
export const BATCH_PENDING_HEADER = 'x-sluice-batch-pending';

/** A frame's header: the blob's size, `missing` (not held) or `pending` (being fetched here). */
export function frameHeader(sha256: string, size: number | 'missing' | 'pending'): Buffer {
  return Buffer.from(`${sha256} ${size === 'missing' ? '-' : size === 'pending' ? '~' : size}\n`, 'latin1');
}

/** One decoded frame: the blob's bytes, or undefined when the sender does not hold it (`pending`: it is fetching it). */
export interface BatchFrame {
  readonly sha256: string;
  readonly bytes: Buffer | undefined;
  readonly pending?: boolean;
}

const HEADER = /^([0-9a-f]{64}) (-|~|\d{1,9})$/;
/** `SHA256 SIZE\n`: 64 + 1 + at most 9 digits + 1. */
const HEADER_MAX = 75;

/**
 * Received chunks not decoded yet. Frames are taken as views of a chunk, not copies (a copy
 * per 16 KiB blob, and another of every chunk to join it to the last one's tail, were a
 * fifth of a receiving node's CPU); only a frame split between chunks is copied together.
 * A frame pins its chunk until the blob is committed.
 */
class Chunks {
  private readonly parts: Buffer[] = [];
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.length += chunk.byteLength;
  }

  /** The first min(n, length) bytes, without consuming them. */
  peek(n: number): Buffer {
    const first = this.parts[0];
    if (!first) return Buffer.alloc(0);
    if (first.length >= n || this.parts.length === 1) return first.subarray(0, n);
    return Buffer.concat(this.parts, Math.min(n, this.length));
  }

  /** Removes and returns the first n bytes (n ≤ length). */
  take(n: number): Buffer {
    const first = this.parts[0];
    if (!first || n === 0) return Buffer.alloc(0);
    if (first.length >= n) {
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      this.length -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const part = this.parts[0]!;
      const k = Math.min(part.length, n - at);
      part.copy(out, at, 0, k);
      at += k;
      if (k === part.length) this.parts.shift();
      else this.parts[0] = part.subarray(k);
    }
    this.length -= n;
    return out;
  }
}

/**
 * Decodes frames as chunks arrive: push() returns the frames each chunk completes. A frame
 * whose size exceeds `maxSize`, or a malformed header, throws: the stream is not trusted
 * past that point. Fed from 'data' events, not an async iterator, which joins whatever
 * chunks are buffered into one new buffer (a copy of every byte).
 */
export class FrameDecoder {
  private readonly pending = new Chunks();
  private current: { sha256: string; size: number } | undefined;

  constructor(private readonly maxSize: number) {}

  push(chunk: Uint8Array): BatchFrame[] {
    const pending = this.pending;
    pending.push(chunk);
    const out: BatchFrame[] = [];
    for (;;) {
      if (!this.current) {
        const nl = pending.peek(HEADER_MAX + 1).indexOf(10);
        if (nl < 0) {
          if (pending.length > HEADER_MAX) throw new Error('malformed blob batch: header too long');
          return out;
        }
        const m = HEADER.exec(pending.take(nl + 1).toString('latin1', 0, nl));
        if (!m) throw new Error('malformed blob batch: bad frame header');
        if (m[2] === '-' || m[2] === '~') {
          out.push({ sha256: m[1]!, bytes: undefined, ...(m[2] === '~' ? { pending: true } : {}) });
          continue;
        }
        const size = Number(m[2]);
        if (size > this.maxSize) throw new Error(`malformed blob batch: a frame of ${size} bytes exceeds ${this.maxSize}`);
        this.current = { sha256: m[1]!, size };
      }
      if (pending.length < this.current.size) return out;
      out.push({ sha256: this.current.sha256, bytes: pending.take(this.current.size) });
      this.current = undefined;
    }
  }

  /** The stream ended: throws when it ended inside a frame. */
  end(): void {
    if (this.current || this.pending.length) throw new Error('malformed blob batch: the response ended inside a frame');
  }
}

/** Frames of a whole byte stream, as they complete (see FrameDecoder). */
export async function* decodeFrames(body: AsyncIterable<Uint8Array>, maxSize: number): AsyncGenerator<BatchFrame> {
  const decoder = new FrameDecoder(maxSize);
  for await (const chunk of body) yield* decoder.push(chunk);
  decoder.end();
}
