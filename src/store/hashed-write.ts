import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { SluiceError } from '../errors.js';

/**
 * Appends `source` to `file` while hashing it, then fsyncs. Small chunks are gathered into
 * one buffer first: fewer, larger writes cost much less than one syscall per socket read.
 * `resume` continues a partial file whose first bytes were already hashed into `hash`.
 */
export async function writeHashed(
  source: AsyncIterable<Uint8Array>,
  file: string,
  options: { maxBytes?: number | undefined; signal?: AbortSignal | undefined; hash?: Hash; startOffset?: number; onChunk?: (bytes: number) => void } = {},
): Promise<{ sha256: string; size: number; hash: Hash }> {
  const hash = options.hash ?? createHash('sha256');
  const maxBytes = options.maxBytes ?? Infinity;
  const fh = await open(file, options.startOffset ? 'r+' : 'w', 0o644);
  let position = options.startOffset ?? 0;
  let written = 0;
  try {
    for await (const chunk of source) {
      options.signal?.throwIfAborted();
      written += chunk.byteLength;
      if (written > maxBytes) throw new SluiceError('PAYLOAD_TOO_LARGE', `more than ${maxBytes} bytes received; the file is larger than allowed`);
      hash.update(chunk);
      await fh.write(chunk, 0, chunk.byteLength, position);
      position += chunk.byteLength;
      options.onChunk?.(chunk.byteLength);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { sha256: hash.copy().digest('hex'), size: position, hash };
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
