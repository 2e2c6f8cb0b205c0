import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

/** A file of `size` random bytes, written in 4 MiB blocks (never held whole in memory). */
export function writeRandomFile(file: string, size: number): { path: string; size: number } {
  const fd = openSync(file, 'w');
  const block = randomBytes(Math.min(Math.max(size, 1), 4 * 1024 * 1024));
  for (let left = size; left > 0; left -= block.length) {
    block[0] = left & 0xff; // blocks differ, so the file does not repeat
    writeSync(fd, block, 0, Math.min(left, block.length));
  }
  closeSync(fd);
  return { path: file, size };
}
