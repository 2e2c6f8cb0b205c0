import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { readFully } from './pack-files.js';

/**
 * A whole small file of known size: open, read, close (readFile adds an fstat and a second
 * read, each a trip through the thread pool).
 */
export async function readWhole(file: string, size: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    return await readFully(fh, size, 0, file);
  } finally {
    await fh.close();
  }
}

/** The sha256 of a file (the agent checks a download with it; start-up adopts files by it). */
export async function hashFile(file: string): Promise<string> {
  return (await digestFile(file)).sha256;
}

/** sha256 and length of a file, read in 1 MiB slices. */
export async function digestFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const fh = await open(file, 'r');
  let size = 0;
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), size };
}
