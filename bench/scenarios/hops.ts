import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, renameSync } from 'node:fs';
import path from 'node:path';
import { startCluster, until } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { haveTool, startNginx } from '../lib/nginx.js';
import { median, table } from '../lib/report.js';

const GiB = 1024 ** 3;

/**
 * One hop: approval at the primary → blob verified and visible at a downstream node, vs
 * `curl -o` from nginx followed by `sha256sum` (the hand-made verified copy).
 * Three hops: primary → hub → branch, vs the hand-made copy done three times in a row.
 */
export async function hopsScenario(opts: { quick: boolean; reps: number }): Promise<string> {
  const size = opts.quick ? 256 * 1024 ** 2 : GiB;
  const cluster = await startCluster(
    [
      { name: 'hq' },
      { name: 'direct', upstream: 'hq', extra: 'ring: one' },
      { name: 'hub', upstream: 'hq', extra: 'ring: three' },
      { name: 'branch', upstream: 'hub', extra: 'ring: three' },
    ],
    { header: 'rings: [one, three]' },
  );
  const refDir = path.join(cluster.dir, 'ref');
  mkdirSync(refDir);
  const nginx = haveTool('nginx', 'apt-get install nginx-light') ? await startNginx(refDir, cluster.dir) : undefined;
  const one: number[] = [];
  const three: number[] = [];
  const handOne: number[] = [];
  const handThree: number[] = [];
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const [ring, node, out] of [['one', 'direct', one], ['three', 'branch', three]] as const) {
        const file = writeRandomFile(path.join(cluster.dir, `big-${ring}-${rep}.bin`), size);
        const pkg = await cluster.publish(`big-${ring}`, String(rep), [file]);
        const sha = pkg.sha[0]!;
        const blob = path.join(cluster.dataDir(node), 'blobs', sha.slice(0, 2), sha);
        const started = performance.now();
        await cluster.approve(pkg.id, ring);
        await until(`${node} to hold the blob`, () => existsSync(blob), 600_000, 2);
        out.push((performance.now() - started) / 1000);
        if (rep === 0 && ring === 'one' && nginx) {
          renameSync(file.path, path.join(refDir, 'ref.bin'));
          chmodSync(path.join(refDir, 'ref.bin'), 0o644);
        }
        else rmSync(file.path, { force: true });
      }
      if (nginx) {
        const copy = () => {
          const t = performance.now();
          const r = spawnSync('sh', ['-c', `curl -fsS -o ${refDir}/../copy.bin ${nginx.url}/ref.bin && sha256sum ${refDir}/../copy.bin >/dev/null`]);
          if (r.status !== 0) throw new Error(`reference copy failed: ${r.stderr}`);
          return (performance.now() - t) / 1000;
        };
        handOne.push(copy());
        handThree.push(copy() + copy() + copy());
      }
    }
  } finally {
    nginx?.stop();
    await cluster.stop();
  }
  const mb = (s: number) => `${(size / s / 1e6).toFixed(0)} MB/s`;
  const rows = [
    ['one hop', `${median(one).toFixed(2)} s (${mb(median(one))})`, nginx ? `${median(handOne).toFixed(2)} s (${mb(median(handOne))})` : 'n/a', nginx ? `${(median(one) / median(handOne)).toFixed(2)}×` : 'n/a', '≤ 1.25× (aim ≤ 1.0×)'],
    ['three hops', `${median(three).toFixed(2)} s (${mb(median(three))})`, nginx ? `${median(handThree).toFixed(2)} s` : 'n/a', nginx ? `${(median(three) / median(handThree)).toFixed(2)}×` : 'n/a', `${(median(three) / median(one)).toFixed(2)}× one hop (target ≤ 1.5×)`],
  ];
  return [`Hops: ${(size / 1024 ** 2).toFixed(0)} MiB, approval → verified downstream, vs curl from nginx + sha256sum (median of ${opts.reps})`, table(['scenario', 'sluice', 'hand-made copy', 'ratio', 'target'], rows)].join('\n');
}
