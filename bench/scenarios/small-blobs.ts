import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { startCluster, until } from '../lib/cluster.js';
import { haveTool, startNginx } from '../lib/nginx.js';
import { median, table } from '../lib/report.js';

/** Many small blobs approved at once: files per second at a downstream node, vs nginx + curl -Z with 16 in parallel. */
export async function smallBlobsScenario(opts: { quick: boolean; reps: number }): Promise<string> {
  const count = opts.quick ? 2000 : 10_000;
  const perPackage = 1000;
  const cluster = await startCluster([{ name: 'hq' }, { name: 'b', upstream: 'hq' }]);
  const www = path.join(cluster.dir, 'www');
  mkdirSync(www);
  const nginx = haveTool('nginx', 'apt-get install nginx-light') ? await startNginx(www, cluster.dir) : undefined;
  const sluice: number[] = [];
  const ref: number[] = [];
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      const dir = path.join(www, `r${rep}`);
      mkdirSync(dir);
      chmodSync(dir, 0o755);
      const files = Array.from({ length: count }, (_, i) => {
        const p = path.join(dir, `f${i}.bin`);
        writeFileSync(p, randomBytes(16 * 1024), { mode: 0o644 });
        return { path: p, size: 16 * 1024 };
      });
      const ids: string[] = [];
      for (let i = 0; i < count; i += perPackage) ids.push((await cluster.publish(`small${rep}-${i}`, '1', files.slice(i, i + perPackage))).id);
      // Both timed runs start from a disk with nothing left to write back (the files just
      // generated and published), so neither pays for the other's writes.
      spawnSync('sync');
      const before = (await cluster.status('b')).store.blobs as number;
      const started = performance.now();
      await Promise.all(ids.map((id) => cluster.approve(id)));
      await until('all small blobs at the branch', async () => (await cluster.status('b')).store.blobs >= before + count, 600_000, 50);
      sluice.push(count / ((performance.now() - started) / 1000));
      if (nginx) {
        const out = path.join(cluster.dir, `curl-${rep}`);
        mkdirSync(out);
        const config = files.map((f, i) => `url = "${nginx.url}/r${rep}/f${i}.bin"\noutput = "${out}/f${i}.bin"`).join('\n');
        writeFileSync(path.join(cluster.dir, `curl-${rep}.cfg`), config);
        spawnSync('sync');
        const t = performance.now();
        const r = spawnSync('curl', ['-fsS', '-Z', '--parallel-max', '16', '-K', path.join(cluster.dir, `curl-${rep}.cfg`)]);
        if (r.status !== 0) throw new Error(`curl failed: ${r.stderr}`);
        ref.push(count / ((performance.now() - t) / 1000));
      }
    }
  } finally {
    await nginx?.stop();
    await cluster.stop();
  }
  const s = median(sluice);
  const n = ref.length ? median(ref) : NaN;
  return [
    `Many small blobs: ${count} × 16 KiB approved at once, approval → all verified at the downstream node, vs nginx + curl -Z (16 in parallel), files/s (median of ${opts.reps})`,
    table(['sluice', 'nginx + curl', 'ratio', 'target'], [[s.toFixed(0), Number.isNaN(n) ? 'n/a' : n.toFixed(0), Number.isNaN(n) ? 'n/a' : `${(s / n).toFixed(2)}×`, '≥ 0.5×']]),
  ].join('\n');
}
