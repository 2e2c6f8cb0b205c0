/**
 * Many small blobs in one response (`POST /v1/blobs/batch`): the request names up to
 * BLOB_BATCH_MAX blobs, `{ "sha256": [...] }`; the response carries, in the order asked, one
 * frame per blob: `SHA256 SIZE\n` followed by SIZE bytes when the node holds it as a small
 * blob, `SHA256 -\n` when it does not (ask with GET /v1/blobs/SHA256 instead). Each receiver
 * hashes every blob it takes: the frame says what the bytes claim to be, nothing more.
 */
export const BLOB_BATCH_MAX = 64;
export const BLOB_BATCH_TYPE = 'application/vnd.sluice.blob-batch';

export function frameHeader(sha256: string, size: number | undefined): Buffer {
  return Buffer.from(`${sha256} ${size === undefined ? '-' : size}\n`, 'latin1');
}

/** One decoded frame: the blob's bytes, or undefined when the sender does not hold it. */
export interface BatchFrame {
  readonly sha256: string;
  readonly bytes: Buffer | undefined;
}

const HEADER = /^([0-9a-f]{64}) (-|\d{1,9})$/;

/**
 * Decodes frames from a byte stream as they complete. A frame whose size exceeds
 * `maxSize`, or a malformed header, throws: the stream is not trusted past that point.
 */
export async function* decodeFrames(body: AsyncIterable<Uint8Array>, maxSize: number): AsyncGenerator<BatchFrame> {
  let pending = Buffer.alloc(0);
  let current: { sha256: string; size: number } | undefined;
  for await (const chunk of body) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk);
    for (;;) {
      if (!current) {
        const nl = pending.indexOf(10);
        if (nl < 0) {
          if (pending.length > 80) throw new Error('malformed blob batch: header too long');
          break;
        }
        const m = HEADER.exec(pending.subarray(0, nl).toString('latin1'));
        if (!m) throw new Error('malformed blob batch: bad frame header');
        pending = pending.subarray(nl + 1);
        if (m[2] === '-') {
          yield { sha256: m[1]!, bytes: undefined };
          continue;
        }
        const size = Number(m[2]);
        if (size > maxSize) throw new Error(`malformed blob batch: a frame of ${size} bytes exceeds ${maxSize}`);
        current = { sha256: m[1]!, size };
      }
      if (pending.length < current.size) break;
      const bytes = Buffer.from(pending.subarray(0, current.size));
      pending = pending.subarray(current.size);
      const done = current;
      current = undefined;
      yield { sha256: done.sha256, bytes };
    }
  }
  if (current || pending.length) throw new Error('malformed blob batch: the response ended inside a frame');
}
