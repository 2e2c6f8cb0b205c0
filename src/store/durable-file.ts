import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from './hashed-write.js';

/**
 * Replaces `file` with `data` so that a crash or power loss leaves the old content or the
 * new, never a torn or empty file: write a sibling, fsync it, rename, fsync the directory.
 */
export async function writeFileDurably(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await fsyncDir(path.dirname(file));
}
