import type { KeyObject } from 'node:crypto';
import { FsBlobStore } from '../store/fs-blob-store.js';
import { openMetaDb, type MetaDb } from '../store/meta-db.js';
import { CatalogLog } from './catalog-log.js';
import type { TrustRoot } from './root.js';

/** A node's data directory, opened: its database, verified catalog and blob store. */
export interface NodeData {
  readonly db: MetaDb;
  readonly catalog: CatalogLog;
  readonly store: FsBlobStore;
  /** What start-up reconciliation changed (records dropped, files adopted or deleted). */
  readonly reconciled: { readonly dropped: string[]; readonly adopted: string[]; readonly deleted: string[] };
  close(): Promise<void>;
}

/**
 * Opens a node's data directory the one way every caller does (the daemon, `sluice import`
 * and `sluice verify --node` of a stopped node): LevelDB (whose lock keeps two processes
 * out), the catalog verified against the pinned root, and the store reconciled with the disk
 * under one rule — a file without a record is adopted only if a catalogued package names it
 * and its bytes hash to its name.
 */
export async function openNodeData(dataDir: string, trust: TrustRoot | KeyObject): Promise<NodeData> {
  const db = await openMetaDb(dataDir);
  try {
    const catalog = await CatalogLog.open(db, trust);
    const referenced = new Set<string>();
    for (const p of catalog.state.all()) for (const f of p.files) referenced.add(f.sha256);
    const { store, dropped, adopted, deleted } = await FsBlobStore.open(db, dataDir, (sha) => referenced.has(sha));
    return {
      db,
      catalog,
      store,
      reconciled: { dropped, adopted, deleted },
      close: async () => {
        await store.close().catch(() => undefined);
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}
