import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { SluiceError } from '../errors.js';
import { BatchedWriter } from './batched-writer.js';

/**
 * Writes `source` to a new `file` while hashing it, then fsyncs (unless `skipSync` says the
 * caller will make these bytes durable itself). Used for uploads; the
 * same batched writer as transfers, so a publish streams as fast as a replication.
 */
export async function writeHashed(
  source: AsyncIterable<Uint8Array>,
  file: string,
  options: { maxBytes?: number | undefined; signal?: AbortSignal | undefined; skipSync?: (size: number) => boolean } = {},
): Promise<{ sha256: string; size: number; synced: boolean }> {
  const hash = createHash('sha256');
  const maxBytes = options.maxBytes ?? Infinity;
  const fh = await open(file, 'w', 0o644);
  const out = new BatchedWriter(fh, 0, 2 * 1024 * 1024, 50);
  try {
    for await (const chunk of source) {
      options.signal?.throwIfAborted();
      if (out.accepted + chunk.byteLength > maxBytes) throw new SluiceError('PAYLOAD_TOO_LARGE', `more than ${maxBytes} bytes received; the file is larger than allowed`);
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      await out.push(buf);
    }
    await out.flush();
    // A caller that makes the bytes durable elsewhere (a pack file) skips this fsync.
    const synced = !options.skipSync?.(out.written);
    if (synced) await fh.sync();
    return { sha256: hash.digest('hex'), size: out.written, synced };
  } finally {
    await out.release();
    await fh.close();
  }
}

/** fsync of a file's bytes. */
export const fsyncFile = (file: string) => fsyncPath(file, 'r+');
/** fsync of a directory, making renames in it durable. */
export const fsyncDir = (dir: string) => fsyncPath(dir, 'r');

async function fsyncPath(target: string, flags: 'r' | 'r+'): Promise<void> {
  const fh = await open(target, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
