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
  return { store, close, reopen: async () => (await close(), openFs(dir)) };
}

blobStoreContract('FsBlobStore (files, pack files and LevelDB)', () => openFs());
