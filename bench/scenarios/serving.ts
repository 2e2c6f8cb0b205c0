import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { startCluster } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { haveTool, startNginx } from '../lib/nginx.js';
import { median, table } from '../lib/report.js';

/**
 * Serving: clients fetch a 16 KiB blob (16 connections, back to back) and a 64 MiB blob
 * (2 connections) at the same time, from a node and from nginx serving the same files.
 */
export async function servingScenario(opts: { quick: boolean; reps: number }): Promise<string> {
  const seconds = opts.quick ? 3 : 10;
  const cluster = await startCluster([{ name: 'hq' }]);
  const www = path.join(cluster.dir, 'www');
  mkdirSync(www);
  chmodSync(www, 0o755);
  const small = writeRandomFile(path.join(cluster.dir, 'small.bin'), 16 * 1024);
  const big = writeRandomFile(path.join(cluster.dir, 'big.bin'), 64 * 1024 * 1024);
  const pkg = await cluster.publish('serve', '1', [small, big]);
  for (const f of [small, big]) {
    copyFileSync(f.path, path.join(www, path.basename(f.path)));
    chmodSync(path.join(www, path.basename(f.path)), 0o644);
  }
  const nginx = haveTool('nginx', 'apt-get install nginx-light') ? await startNginx(www, cluster.dir) : undefined;
  const targets: [string, string, string][] = [['sluice', `${cluster.url('hq')}/v1/blobs/${pkg.sha[0]}`, `${cluster.url('hq')}/v1/blobs/${pkg.sha[1]}`]];
  if (nginx) targets.push(['nginx', `${nginx.url}/small.bin`, `${nginx.url}/big.bin`]);
  const results = new Map<string, { rps: number[]; mbps: number[] }>();
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const [name, smallUrl, bigUrl] of targets) {
        const agent = new Agent({ connections: 32 });
        const until = performance.now() + seconds * 1000;
        let smallCount = 0;
        let bigBytes = 0;
        const loop = async (url: string, onDone: (n: number) => void) => {
          while (performance.now() < until) {
            const res = await request(url, { dispatcher: agent });
            let n = 0;
            for await (const chunk of res.body) n += (chunk as Buffer).length;
            onDone(n);
          }
        };
        const started = performance.now();
        await Promise.all([
          ...Array.from({ length: 16 }, () => loop(smallUrl, () => smallCount++)),
          ...Array.from({ length: 2 }, () => loop(bigUrl, (n) => (bigBytes += n))),
        ]);
        const elapsed = (performance.now() - started) / 1000;
        await agent.close();
        const r = results.get(name) ?? { rps: [], mbps: [] };
        r.rps.push(smallCount / elapsed);
        r.mbps.push(bigBytes / elapsed / 1e6);
        results.set(name, r);
      }
    }
  } finally {
    nginx?.stop();
    await cluster.stop();
  }
  const s = results.get('sluice')!;
  const n = results.get('nginx');
  const row = (what: string, sv: number, nv: number | undefined, unit: string) => [what, `${sv.toFixed(0)} ${unit}`, nv === undefined ? 'n/a' : `${nv.toFixed(0)} ${unit}`, nv === undefined ? 'n/a' : `${(sv / nv).toFixed(2)}×`, '≥ 0.5×'];
  return [
    `Serving: 16 clients on a 16 KiB blob and 2 on a 64 MiB blob at once for ${seconds} s, node vs nginx (client in the benchmark process; median of ${opts.reps})`,
    table(['load', 'sluice', 'nginx', 'ratio', 'target'], [
      row('16 KiB blob', median(s.rps), n ? median(n.rps) : undefined, 'req/s'),
      row('64 MiB blob', median(s.mbps), n ? median(n.mbps) : undefined, 'MB/s'),
    ]),
  ].join('\n');
}
