import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { request } from 'undici';
import type { RecordBody } from '../../src/catalog/records.js';
import { startCluster, until } from '../lib/cluster.js';
import { fillCatalog } from '../lib/fill-catalog.js';
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
    // Fill the primary's catalog offline, 1,000 records per append.
    prepare: (ctx) =>
      fillCatalog(ctx, 'hq', (n, at) =>
        Array.from({ length: Math.max(0, Math.min(1000, count - n * 1000)) }, (_, j): RecordBody => ({ type: 'publish', id: `pkg${n * 1000 + j}@1.0.${j}`, severity: 'low', files: [{ name: 'setup.bin', size: 1000 + j, sha256: randomBytes(32).toString('hex') }], by: 'bench', at })),
      ),
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
