import { statfs } from 'node:fs/promises';

/** Bytes free for this process on the filesystem of `dir`, or undefined when it cannot be told. */
export async function freeBytesOf(dir: string): Promise<number | undefined> {
  const fs = await statfs(dir).catch(() => undefined);
  return fs ? fs.bavail * fs.bsize : undefined;
}
