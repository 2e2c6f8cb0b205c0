import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { BatchOp, MetaDb } from './meta-db.js';
import { LevelCheckpoints } from './level-checkpoints.js';
import { PartialFile, type HashMemo } from './partial-file.js';

/** A partial file held by one owner until `release()`. */
export interface OwnedPartial extends PartialFile {
  release(): void;
}

/**
 * The node's partial downloads under `data/partial/`, with their checkpoints in LevelDB.
 * One owner per blob at a time: a transfer holds its partial from the first byte until its
 * commit has ended, so a blob un-wanted and wanted again while its commit is pending waits
 * for that commit instead of truncating the file being renamed.
 */
export class PartialFiles {
  readonly dir: string;
  private readonly checkpoints: LevelCheckpoints;
  private readonly memos = new Map<string, HashMemo>();
  /** Blob → the promise that resolves when its current owner releases it. */
  private readonly owners = new Map<string, Promise<void>>();
  /** Bytes each kept partial held at start-up, until its transfer resumes (for progress). */
  private readonly heldAtStart = new Map<string, number>();

  constructor(db: MetaDb, dataDir: string) {
    this.dir = path.join(dataDir, 'partial');
    this.checkpoints = new LevelCheckpoints(db);
  }

  /** Waits until no one else holds the blob's partial, then hands it over. */
  async acquire(sha256: string, size: number, signal?: AbortSignal): Promise<OwnedPartial> {
    for (;;) {
      signal?.throwIfAborted();
      const held = this.owners.get(sha256);
      if (!held) break;
      await held;
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.owners.set(sha256, done);
    // From here on the transfer reports its own offset (its resume point).
    this.heldAtStart.delete(sha256);
    const file = new PartialFile(sha256, size, this.pathOf(sha256), this.checkpoints, this.memos);
    let released = false;
    return Object.assign(file, {
      release: () => {
        if (released) return;
        released = true;
        if (this.owners.get(sha256) === done) this.owners.delete(sha256);
        release();
      },
    });
  }

  /**
   * Bytes a partial kept at start-up holds, until its transfer takes it over: what progress,
   * pending bytes and the forecast start from for a transfer still queued after a restart.
   */
  heldBytes(sha256: string): number {
    return this.heldAtStart.get(sha256) ?? 0;
  }

  isHeld(sha256: string): boolean {
    return this.owners.has(sha256);
  }

  /** The LevelDB operation that forgets a checkpoint, for committing it with the blob. */
  forgetOp(sha256: string): BatchOp {
    return this.checkpoints.deleteOp(sha256);
  }

  /**
   * At start-up: removes partials that are unwanted, unrecorded, already stored or older
   * than `ttlMs`, and checkpoints whose file is gone.
   */
  async reconcile(keep: (sha256: string) => boolean, ttlMs: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const checkpoints = await this.checkpoints.all();
    const files = await readdir(this.dir);
    for (const file of files) {
      const sha = file.replace(/\.part$/, '');
      const full = path.join(this.dir, file);
      const info = await stat(full);
      const age = Date.now() - info.mtimeMs;
      if (!checkpoints.has(sha) || !keep(sha) || age > ttlMs) {
        await unlink(full).catch(() => undefined);
        if (checkpoints.has(sha)) await this.checkpoints.delete(sha);
      } else {
        this.heldAtStart.set(sha, info.size);
      }
    }
    for (const sha of checkpoints.keys()) if (!files.includes(`${sha}.part`)) await this.checkpoints.delete(sha);
  }

  private pathOf(sha256: string): string {
    return path.join(this.dir, `${sha256}.part`);
  }
}
