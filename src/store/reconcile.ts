import { mkdir, readdir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { hashFile } from './file-digest.js';
import type { BlobMeta, MetaDb, Sublevel } from './meta-db.js';
import { syncBatch } from './meta-db.js';
import type { PackFiles, PackLocation } from './pack-files.js';

const SHA_FILE = /^[0-9a-f]{64}$/;

/** What start-up reconciliation needs of the store it opens. */
export interface ReconcileTarget {
  readonly db: MetaDb;
  readonly blobsDb: Sublevel;
  readonly dirs: { readonly blobs: string; readonly quarantine: string; readonly partial: string; readonly tmp: string };
  readonly packs: PackFiles;
  pathOf(sha256: string): string;
  has(sha256: string): boolean;
  /** A blob found whole: the store makes it visible (in a pack at `loc`, or a file of its own). */
  found(sha256: string, size: number, loc?: PackLocation): void;
}

/**
 * Makes disk and LevelDB agree at start-up, before anything is served: staging files of a
 * crashed write are removed; a record whose file is missing or the wrong size (or whose pack
 * ends before it) is dropped; packs no record uses are removed; a file without a record is
 * adopted when `isWanted` says so and its bytes hash to its name, deleted otherwise.
 */
export async function reconcile(t: ReconcileTarget, isWanted: (sha256: string) => boolean): Promise<{ dropped: string[]; adopted: string[]; deleted: string[] }> {
  const dropped: string[] = [];
  const adopted: string[] = [];
  const deleted: string[] = [];
  await mkdir(t.dirs.blobs, { recursive: true });
  await mkdir(t.dirs.quarantine, { recursive: true });
  await mkdir(t.dirs.partial, { recursive: true });
  await rm(t.dirs.tmp, { recursive: true, force: true });
  await mkdir(t.dirs.tmp, { recursive: true });
  const packIds = await t.packs.open();
  const packSizes = new Map<number, number>();
  for await (const [sha, meta] of t.blobsDb.iterator() as AsyncIterable<[string, BlobMeta]>) {
    if (meta.pack !== undefined) {
      // A packed blob is there when its pack holds its whole range (it was synced first).
      if (!packSizes.has(meta.pack)) packSizes.set(meta.pack, await t.packs.sizeOf(meta.pack));
      if (packSizes.get(meta.pack)! < (meta.offset ?? 0) + meta.size) {
        dropped.push(sha);
        continue;
      }
      t.found(sha, meta.size, { pack: meta.pack, offset: meta.offset ?? 0 });
      continue;
    }
    const size = await stat(t.pathOf(sha)).then((s) => s.size, () => -1);
    if (size !== meta.size) {
      dropped.push(sha);
      continue;
    }
    t.found(sha, size);
  }
  await t.packs.removeUnused(packIds);
  await syncBatch(t.db, dropped.map((key) => ({ type: 'del', sublevel: t.blobsDb, key })));
  for (const fan of await readdir(t.dirs.blobs)) {
    for (const name of await readdir(path.join(t.dirs.blobs, fan))) {
      if (t.has(name)) continue;
      const file = path.join(t.dirs.blobs, fan, name);
      if (SHA_FILE.test(name) && isWanted(name) && (await hashFile(file)) === name) {
        const { size } = await stat(file);
        await syncBatch(t.db, [{ type: 'put', sublevel: t.blobsDb, key: name, value: { size, storedAt: Date.now() } satisfies BlobMeta }]);
        t.found(name, size);
        adopted.push(name);
      } else {
        await unlink(file);
        deleted.push(name);
      }
    }
  }
  return { dropped, adopted, deleted };
}
