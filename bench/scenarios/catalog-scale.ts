import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { request } from 'undici';
import { CatalogLog } from '../../src/catalog/catalog-log.js';
import { CatalogWriter } from '../../src/catalog/catalog-writer.js';
import { readPrivateKey, readPublicKey } from '../../src/catalog/keys.js';
import type { RecordBody } from '../../src/catalog/records.js';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { openMetaDb } from '../../src/store/meta-db.js';
import { startCluster, until } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { cpuSeconds } from '../lib/proc.js';
import { table } from '../lib/report.js';

/**
 * Catalog scale: a primary holding N packages; time for a new node's initial catalog sync,
 * then the bytes on the wire and the CPU one incremental change costs that node.
 */
export async function catalogScaleScenario(opts: { quick: boolean }): Promise<string> {
  const count = opts.quick ? 20_000 : 100_000;
  const cluster = await startCluster([{ name: 'hq' }, { name: 'b', upstream: 'hq' }], {
    start: ['hq'],
    async prepare(ctx) {
      // Fill the primary's catalog offline, through the same writer the primary uses.
      const db = await openMetaDb(ctx.dataDir('hq'));
      const log = await CatalogLog.open(db, readPublicKey(ctx.publicKeyPath, 'key'));
      const { store } = await FsBlobStore.open(db, ctx.dataDir('hq'));
      const writer = new CatalogWriter(log, store, [readPrivateKey(ctx.signingKeyPath, 'key')], 7 * 86_400_000, 3_600_000);
      await writer.start();
      const at = new Date().toISOString();
      for (let i = 0; i < count; i += 1000) {
        await writer.append(() =>
          Array.from({ length: Math.min(1000, count - i) }, (_, j): RecordBody => ({ type: 'publish', id: `pkg${i + j}@1.0.${j}`, severity: 'low', files: [{ name: 'setup.bin', size: 1000 + j, sha256: randomBytes(32).toString('hex') }], by: 'bench', at })),
        );
      }
      writer.close();
      await db.close();
    },
  });
  let initialSec = NaN;
  let bytes = NaN;
  let cpuMs = NaN;
  try {
    const started = performance.now();
    cluster.spawnNode('b');
    await until('b to sync the whole catalog', async () => (await cluster.status('b').catch(() => ({ catalog: { seq: 0 } }))).catalog.seq >= count, 600_000, 50);
    initialSec = (performance.now() - started) / 1000;
    const pid = cluster.children.get('b')!.pid!;
    const cpuBefore = cpuSeconds(pid);
    const file = writeRandomFile(path.join(cluster.dir, 'one.bin'), 1000);
    await cluster.publish('one-more', '1', [file]);
    await until('b to see the change', async () => (await cluster.status('b')).catalog.seq >= count + 1, 60_000, 5);
    cpuMs = (cpuSeconds(pid) - cpuBefore) * 1000;
    // What b's long-poll carried: the response body and its headers.
    const res = await request(`${cluster.url('hq')}/v1/catalog?after=${count}&limit=5000`);
    const body = await res.body.text();
    bytes = Buffer.byteLength(body) + Object.entries(res.headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 17);
  } finally {
    await cluster.stop();
  }
  return [
    `Catalog scale: ${count} packages at the primary`,
    table(['measure', 'value', 'target'], [
      ['initial catalog sync of a new node', `${initialSec.toFixed(1)} s`, ''],
      ['one incremental change: bytes on the wire', `${bytes} B`, '< 10 KiB'],
      ['one incremental change: CPU at the node', `${cpuMs.toFixed(0)} ms (includes its status pushes meanwhile)`, ''],
    ]),
  ].join('\n');
}
