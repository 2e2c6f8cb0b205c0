import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Checkpoint, CheckpointStore } from '../store/partial-file.js';

/** An endpoint's transfer checkpoints: one small JSON file per partial download. */
export class FileCheckpoints implements CheckpointStore {
  constructor(private readonly dir: string) {}

  private file(sha256: string): string {
    return path.join(this.dir, `${sha256}.ckpt`);
  }

  async get(sha256: string): Promise<Checkpoint | undefined> {
    try {
      return JSON.parse(await readFile(this.file(sha256), 'utf8')) as Checkpoint;
    } catch {
      return undefined;
    }
  }

  async set(sha256: string, offset: number): Promise<void> {
    await writeFile(this.file(sha256), JSON.stringify({ offset, updatedAt: Date.now() } satisfies Checkpoint));
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.file(sha256), { force: true });
  }
}
