import { mkdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { toSluiceError } from '../errors.js';
import type { StagedBlob } from './blob-store.js';
import { packable } from './blob-sizes.js';
import { readWhole } from './file-digest.js';
import { fsyncDir, fsyncFile } from './hashed-write.js';
import type { BatchOp, BlobMeta, MetaDb, Sublevel } from './meta-db.js';
import { syncBatch } from './meta-db.js';
import type { PackFiles, PackLocation } from './pack-files.js';

interface PendingCommit {
  staged: readonly StagedBlob[];
  readonly extra: readonly BatchOp[];
  resolve(): void;
  reject(err: unknown): void;
}

/** What a commit round needs of the store it commits into. */
export interface CommitTarget {
  readonly db: MetaDb;
  readonly blobsDb: Sublevel;
  readonly packs: PackFiles;
  has(sha256: string): boolean;
  pathOf(sha256: string): string;
  /** A blob made durable and recorded by a round: the store makes it visible. */
  committed(staged: StagedBlob, loc: PackLocation | undefined): void;
}

/**
 * Group commit of staged blobs: concurrent commits are gathered into one round (renames, one
 * fsync per directory, one synced LevelDB batch for all of them), so thousands of small
 * blobs do not pay three fsyncs each. A round never mixes in a commit that arrives after it
 * started. Each commit succeeds or fails on its own: a file that cannot be renamed fails its
 * commit only (whose renamed files are taken back), never the others of the round.
 */
export class GroupCommit {
  private readonly pendingCommits: PendingCommit[] = [];
  private committing = false;
  private readonly knownDirs = new Set<string>();

  constructor(private readonly target: CommitTarget) {}

  /** Resolves once `staged` are visible and `extra` written, in the same LevelDB batch. */
  commit(staged: readonly StagedBlob[], extra: readonly BatchOp[] = []): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingCommits.push({ staged, extra, resolve, reject });
      if (!this.committing) void this.commitRounds();
    });
  }

  /**
   * Small uploads (publish, restore) go into the packs too: their bytes are read back from the
   * staging file, which the round then removes.
   */
  private async readBackSmall(round: PendingCommit[]): Promise<void> {
    const readBack = (s: StagedBlob) => !s.data && packable(s.size) && !this.target.has(s.sha256);
    for (const c of round) {
      // Most commits (replicated small blobs) hold their bytes already: no await for them.
      if (!c.staged.some(readBack)) continue;
      c.staged = await Promise.all(
        c.staged.map(async (s) => {
          if (!readBack(s)) return s;
          const data = await readWhole(s.tmpPath, s.size).catch(() => undefined);
          if (!data) return s;
          await unlink(s.tmpPath).catch(() => undefined);
          return { ...s, tmpPath: '', data };
        }),
      );
    }
  }

  private async commitRounds(): Promise<void> {
    this.committing = true;
    try {
      while (this.pendingCommits.length) await this.commitRound(this.pendingCommits.splice(0, 512));
    } finally {
      this.committing = false;
    }
  }

  /**
   * One round: small blobs into the current pack (one append, one fsync), other files fsynced
   * and renamed into place (each commit on its own), then one synced LevelDB batch for every
   * commit that got that far.
   */
  private async commitRound(round: PendingCommit[]): Promise<void> {
    await this.readBackSmall(round);
    const placed = new Set<string>();
    const dirs = new Set<string>();
    const ok: PendingCommit[] = [];
    // Durable bytes before the rename that makes them visible; in parallel, so the
    // filesystem can fold them into few journal commits.
    const synced = await Promise.all(round.flatMap((c) => c.staged).map((s) => (s.unsynced && !s.data ? fsyncFile(s.tmpPath).then(() => undefined, (err: unknown) => err) : undefined)));
    // Small blobs of the whole round: one append and one fsync of the current pack.
    const packedNow = new Map<string, PackLocation>();
    const toPack = round.flatMap((c) => c.staged).filter((s) => s.data && !this.target.has(s.sha256));
    const unique = [...new Map(toPack.map((s) => [s.sha256, s])).values()];
    let packFailure: unknown;
    if (unique.length) {
      try {
        const locs = await this.target.packs.append(unique.map((s) => s.data!));
        unique.forEach((s, i) => packedNow.set(s.sha256, locs[i]!));
      } catch (err) {
        packFailure = err;
      }
    }
    let k = 0;
    for (const c of round) {
      const failures = c.staged.map(() => synced[k++]).filter((e) => e !== undefined);
      const mine: string[] = [];
      try {
        if (failures.length) throw failures[0];
        if (packFailure && c.staged.some((s) => s.data)) throw packFailure;
        for (const s of c.staged) {
          if (s.data) {
            if (!this.target.has(s.sha256) && !placed.has(s.sha256) && packedNow.has(s.sha256)) placed.add(s.sha256);
            continue;
          }
          if (this.target.has(s.sha256) || placed.has(s.sha256)) {
            await unlink(s.tmpPath).catch(() => undefined);
            continue;
          }
          const dest = this.target.pathOf(s.sha256);
          const dir = path.dirname(dest);
          if (!this.knownDirs.has(dir)) {
            await mkdir(dir, { recursive: true });
            this.knownDirs.add(dir);
          }
          await rename(s.tmpPath, dest);
          mine.push(s.sha256);
          placed.add(s.sha256);
          dirs.add(dir);
        }
        ok.push(c);
      } catch (err) {
        // Nothing of a failed commit may stay: an unrecorded file would be deleted at
        // start-up anyway, but until then it would look like a blob on disk.
        for (const sha of mine) {
          placed.delete(sha);
          await unlink(this.target.pathOf(sha)).catch(() => undefined);
        }
        for (const s of c.staged) if (!s.data) await unlink(s.tmpPath).catch(() => undefined);
        c.reject(toSluiceError(err, 'cannot commit blobs to the store', 'STORE_IO'));
      }
    }
    if (ok.length) await this.record(ok, placed, dirs, packedNow);
  }

  /** Makes the renames durable, then records every placed blob and the commits' extras in one synced batch. */
  private async record(ok: PendingCommit[], placed: ReadonlySet<string>, dirs: ReadonlySet<string>, packedNow: ReadonlyMap<string, PackLocation>): Promise<void> {
    const fresh = ok.flatMap((c) => c.staged).filter((s) => placed.has(s.sha256) && !this.target.has(s.sha256));
    try {
      // The renames must be durable before LevelDB says the blobs exist.
      await Promise.all([...dirs].map((dir) => fsyncDir(dir)));
      const storedAt = Date.now();
      await syncBatch(this.target.db, [
        ...fresh.map((s) => {
          const loc = packedNow.get(s.sha256);
          return { type: 'put' as const, sublevel: this.target.blobsDb, key: s.sha256, value: (loc ? { size: s.size, storedAt, pack: loc.pack, offset: loc.offset } : { size: s.size, storedAt }) satisfies BlobMeta };
        }),
        ...ok.flatMap((c) => c.extra),
      ]);
    } catch (err) {
      const e = toSluiceError(err, 'cannot commit blobs to the store', 'STORE_IO');
      for (const c of ok) c.reject(e);
      return;
    }
    for (const s of fresh) this.target.committed(s, packedNow.get(s.sha256));
    for (const c of ok) c.resolve();
  }
}
