import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { openMetaDb } from '../../src/store/meta-db.js';
import { blobStoreContract, type StoreUnderTest } from '../contract/blob-store-contract.js';
import { tempDir } from '../helpers/env.js';

/** The file-system store on real LevelDB and files; a reopen is a restart of the same directory. */
async function openFs(dir = tempDir()): Promise<StoreUnderTest> {
  const db = await openMetaDb(dir);
  const { store } = await FsBlobStore.open(db, dir);
  const close = async () => {
    await store.close();
    await db.close();
  };
  const partial = (sha256: string) => path.join(dir, 'partial', `${sha256}.part`);
  return {
    store,
    close,
    reopen: async () => (await close(), openFs(dir)),
    tearTail: async (sha256, from) => {
      const fh = await open(partial(sha256), 'r+');
      const { size } = await fh.stat();
      await fh.write(Buffer.alloc(size - from, 0x5a), 0, size - from, from);
      await fh.close();
    },
    renameWithoutRecord: async (sha256) => {
      // What the group commit does before its LevelDB batch: the file in place, no record.
      await mkdir(path.dirname(store.pathOf(sha256)), { recursive: true });
      await rename(partial(sha256), store.pathOf(sha256));
    },
  };
}

blobStoreContract('FsBlobStore (files, pack files and LevelDB)', () => openFs());
