import { CatalogLog } from '../../src/catalog/catalog-log.js';
import { CatalogWriter } from '../../src/catalog/catalog-writer.js';
import { readPrivateKey, readPublicKey } from '../../src/catalog/keys.js';
import type { RecordBody } from '../../src/catalog/records.js';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { openMetaDb } from '../../src/store/meta-db.js';

/**
 * Fills a primary's catalog before it starts, through the same writer the primary uses (so
 * the records are signed and chained as real ones): `batch(i)` gives the records of the i-th
 * append, until it returns none.
 */
export async function fillCatalog(ctx: { dataDir: (name: string) => string; publicKeyPath: string; signingKeyPath: string }, node: string, batch: (i: number, at: string) => RecordBody[]): Promise<void> {
  const db = await openMetaDb(ctx.dataDir(node));
  const log = await CatalogLog.open(db, readPublicKey(ctx.publicKeyPath, 'key'));
  const { store } = await FsBlobStore.open(db, ctx.dataDir(node));
  const writer = new CatalogWriter(log, store, [readPrivateKey(ctx.signingKeyPath, 'key')], 7 * 86_400_000, 3_600_000);
  await writer.start();
  const at = new Date().toISOString();
  for (let i = 0; ; i++) {
    const records = batch(i, at);
    if (records.length === 0) break;
    await writer.append(() => records);
  }
  writer.close();
  await store.close();
  await db.close();
}
