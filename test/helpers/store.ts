import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { openMetaDb } from '../../src/store/meta-db.js';
import { tempDir } from './env.js';

/** A store on real LevelDB and files in a fresh directory. */
export async function freshStore() {
  const dir = tempDir();
  const db = await openMetaDb(dir);
  const { store } = await FsBlobStore.open(db, dir);
  return { dir, db, store };
}
