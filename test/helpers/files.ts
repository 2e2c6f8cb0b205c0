import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

/** A file of `size` random bytes, written in 1 MiB slices (never all in memory). */
export function writeRandomFileSync(file: string, size: number): string {
  const fd = openSync(file, 'w');
  try {
    for (let left = size; left > 0; ) {
      const n = Math.min(left, 1024 * 1024);
      writeSync(fd, randomBytes(n));
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return file;
}
