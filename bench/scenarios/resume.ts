import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { startCluster, until } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { median, pct, table } from '../lib/report.js';

/**
 * Resume waste: a downstream node is SIGKILLed at a random point of a large transfer and
 * restarted; bytes the upstream sent beyond the blob's size, as a fraction of it.
 */
export async function resumeScenario(opts: { quick: boolean; reps: number }): Promise<string> {
  const size = opts.quick ? 256 * 1024 ** 2 : 1024 ** 3;
  const kills = opts.quick ? 2 : 5;
  const cluster = await startCluster([{ name: 'hq' }, { name: 'b', upstream: 'hq' }]);
  const rows: string[][] = [];
  const wastes: number[] = [];
  try {
    for (let k = 0; k < kills; k++) {
      const file = writeRandomFile(path.join(cluster.dir, `r${k}.bin`), size);
      const pkg = await cluster.publish(`resume${k}`, '1', [file]);
      const sha = pkg.sha[0]!;
      const partial = path.join(cluster.dataDir('b'), 'partial', `${sha}.part`);
      const blob = path.join(cluster.dataDir('b'), 'blobs', sha.slice(0, 2), sha);
      const sentBefore = await cluster.metric('hq', 'sluice_transfer_bytes_total{direction="out",peer="b"}');
      const at = 0.1 + Math.random() * 0.8;
      await cluster.approve(pkg.id);
      await until('the kill point', () => existsSync(blob) || (existsSync(partial) && statSync(partial).size >= at * size), 600_000, 1);
      cluster.children.get('b')!.kill('SIGKILL');
      const killedAt = existsSync(partial) ? statSync(partial).size : size;
      await new Promise((r) => setTimeout(r, 200));
      cluster.spawnNode('b');
      await cluster.ready('b');
      await until('the blob after the restart', () => existsSync(blob), 600_000, 10);
      const sent = (await cluster.metric('hq', 'sluice_transfer_bytes_total{direction="out",peer="b"}')) - sentBefore;
      const waste = sent / size - 1;
      wastes.push(waste);
      rows.push([`${(killedAt / size * 100).toFixed(0)}%`, `${((sent - size) / 1024).toFixed(0)} KiB`, pct(waste)]);
    }
  } finally {
    await cluster.stop();
  }
  rows.push(['median', '', pct(median(wastes))]);
  return [`Resume waste: ${(size / 1024 ** 2).toFixed(0)} MiB, downstream SIGKILLed at a random point and restarted; bytes re-sent by the upstream (target ≤ 1%)`, table(['killed at', 're-sent', 'of the blob'], rows)].join('\n');
}
