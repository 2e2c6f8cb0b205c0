import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Download, DownloadReader, IdleDownload } from './download.js';
import type { BatchOp, MetaDb } from './meta-db.js';
import { LevelCheckpoints } from './level-checkpoints.js';
import { PartialFile, type HashMemo } from './partial-file.js';
import type { StagedBlob } from './staged-blob.js';

/** What a download of the file-system store needs of the store: its commit, and where a blob lives. */
export interface DownloadCommitter {
  commit(staged: readonly StagedBlob[], extra: readonly BatchOp[]): Promise<void>;
  pathOf(sha256: string): string;
}

/**
 * The file-system store's downloads under `data/partial/`, with their checkpoints in LevelDB.
 * One owner per blob at a time: a download is held from `open` until its commit, abandon or
 * release has ended, so a blob un-wanted and wanted again while its commit is pending waits
 * for that commit instead of truncating the file being renamed.
 */
export class PartialFiles {
  readonly dir: string;
  private readonly checkpoints: LevelCheckpoints;
  private readonly memos = new Map<string, HashMemo>();
  /** Blob → the promise that resolves when its current owner releases it. */
  private readonly owners = new Map<string, Promise<void>>();
  /** Bytes each kept partial held when the store opened, until its download is opened (for progress). */
  private readonly heldAtStart = new Map<string, number>();

  constructor(
    db: MetaDb,
    dataDir: string,
    private readonly store: DownloadCommitter,
  ) {
    this.dir = path.join(dataDir, 'partial');
    this.checkpoints = new LevelCheckpoints(db);
  }

  /** Waits until no one else holds the blob's download, then hands it over. */
  async open(sha256: string, size: number, signal?: AbortSignal): Promise<Download> {
    for (;;) {
      signal?.throwIfAborted();
      const held = this.owners.get(sha256);
      if (!held) break;
      await untilReleased(held, signal);
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.owners.set(sha256, done);
    // From here on the download reports its own offset (its resume point).
    this.heldAtStart.delete(sha256);
    return new FsDownload(new PartialFile(sha256, size, this.pathOf(sha256), this.checkpoints, this.memos), this.store, this.checkpoints.deleteOp(sha256), () => {
      if (this.owners.get(sha256) === done) this.owners.delete(sha256);
      release();
    });
  }

  /** Bytes a partial kept at start-up holds, until its download is opened again. */
  heldBytes(sha256: string): number {
    return this.heldAtStart.get(sha256) ?? 0;
  }

  /** Partials on disk that no one holds now, with their length and how long they have been untouched. */
  async idle(now = Date.now()): Promise<IdleDownload[]> {
    const out: IdleDownload[] = [];
    for (const file of await readdir(this.dir).catch(() => [] as string[])) {
      const sha256 = file.replace(/\.part$/, '');
      if (sha256 === file || this.owners.has(sha256)) continue;
      const info = await stat(path.join(this.dir, file)).catch(() => undefined);
      if (info) out.push({ sha256, bytes: info.size, idleMs: Math.max(0, now - info.mtimeMs) });
    }
    return out;
  }

  /** Drops a partial no one holds (its file and checkpoint); false when it is held. */
  async drop(sha256: string): Promise<boolean> {
    if (this.owners.has(sha256)) return false;
    const download = await this.open(sha256, 0);
    await download.abandon();
    return true;
  }

  /**
   * At start-up: removes partial files without a checkpoint (a crash before the first one:
   * nothing says how much of them is good) and checkpoints whose file is gone. Which of the
   * rest are still wanted is for the downloader to say once it knows (its orphan collection).
   */
  async reconcile(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const checkpoints = await this.checkpoints.all();
    const files = await readdir(this.dir);
    for (const file of files) {
      const sha = file.replace(/\.part$/, '');
      const full = path.join(this.dir, file);
      if (!checkpoints.has(sha)) {
        await unlink(full).catch(() => undefined);
        continue;
      }
      const info = await stat(full).catch(() => undefined);
      if (info) this.heldAtStart.set(sha, info.size);
    }
    for (const sha of checkpoints.keys()) if (!files.includes(`${sha}.part`)) await this.checkpoints.delete(sha);
  }

  private pathOf(sha256: string): string {
    return path.join(this.dir, `${sha256}.part`);
  }
}

/** Resolves when `held` does; rejects as soon as `signal` aborts (the wait of a blob's next owner). */
export function untilReleased(held: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return held;
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void held.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** A download of the file-system store: its partial file, held until commit, abandon or release. */
class FsDownload implements Download {
  private ended = false;

  constructor(
    private readonly file: PartialFile,
    private readonly store: DownloadCommitter,
    private readonly forgetCheckpoint: BatchOp,
    private readonly endOwnership: () => void,
  ) {}

  get sha256(): string {
    return this.file.sha256;
  }

  get size(): number {
    return this.file.size;
  }

  resumePoint(signal?: AbortSignal) {
    return this.file.resumePoint(signal);
  }

  remember(offset: number, hash: Parameters<PartialFile['remember']>[1]): void {
    this.file.remember(offset, hash);
  }

  openForWrite(offset: number) {
    return this.file.openForWrite(offset);
  }

  checkpoint(offset: number): Promise<void> {
    return this.file.checkpoint(offset);
  }

  rollback(durable: number): Promise<void> {
    return this.file.rollback(durable);
  }

  discard(): Promise<void> {
    return this.file.discard();
  }

  /**
   * The partial file, or the blob's file once the commit renamed it there (the same bytes: a
   * relay asking during the commit never misses them).
   */
  async openForRead(): Promise<DownloadReader> {
    try {
      return await this.file.openForRead();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return open(this.store.pathOf(this.sha256), 'r');
    }
  }

  async commit(extra: readonly BatchOp[] = []): Promise<void> {
    try {
      await this.store.commit([this.file.staged()], [...extra, this.forgetCheckpoint]);
    } finally {
      this.release();
    }
  }

  async abandon(): Promise<void> {
    try {
      await this.file.discard();
    } finally {
      this.release();
    }
  }

  release(): void {
    if (this.ended) return;
    this.ended = true;
    this.endOwnership();
  }
}
