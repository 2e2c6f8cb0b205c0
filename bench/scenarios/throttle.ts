import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeRandomFile } from '../lib/files.js';
import path from 'node:path';
import { startCluster } from '../lib/cluster.js';
import { watchGrowth, type Growth } from '../lib/growth.js';
import { haveTool } from '../lib/nginx.js';
import { fmtRate, median, pct, table } from '../lib/report.js';

/**
 * Scheduled bandwidth: a branch whose region allows R bytes/s pulls a blob of R × seconds
 * bytes; achieved average and the fullest 1-second window, next to `curl | pv -L R`
 * fetching the same blob from the same node in the same run. The reference is checked to
 * throttle (average within 10% of R) before its figures are printed: `curl --limit-rate`
 * was not, on this machine, and a reference that does not throttle proves nothing.
 */
export async function throttleScenario(opts: { quick: boolean; reps: number }): Promise<string> {
  if (!haveTool('pv', 'apt-get install pv') || !haveTool('curl', 'apt-get install curl')) return 'Scheduled rate: skipped (needs pv and curl)';
  const rates = opts.quick ? [1e6, 20 * 1024 * 1024] : [64e3, 1e6, 20 * 1024 * 1024, 100e6];
  const seconds = opts.quick ? 4 : 10;
  const cluster = await startCluster(
    [{ name: 'hq' }, ...rates.map((_, i) => ({ name: `b${i}`, upstream: 'hq', extra: `region: r${i}, ring: k${i}` }))],
    {
      header: `rings: [${rates.map((_, i) => `k${i}`).join(', ')}]`,
      regions: rates.map((r, i) => `  r${i}: { timezone: UTC, schedule: [ { rate: ${r}B/s } ], sync: { every: 10m, jitter: 0s } }`),
    },
  );
  const rows: string[][] = [];
  try {
    for (const [i, rate] of rates.entries()) {
      const sluice: Growth[] = [];
      const curl: Growth[] = [];
      for (let rep = 0; rep < opts.reps; rep++) {
        const size = Math.round(rate * seconds);
        const file = path.join(cluster.dir, `t${i}-${rep}.bin`);
        writeRandomFile(file, size);
        const pkg = await cluster.publish(`t${i}`, `${rep}`, [{ path: file, size }]);
        const sha = pkg.sha[0]!;
        const dataDir = cluster.dataDir(`b${i}`);
        const blob = path.join(dataDir, 'blobs', sha.slice(0, 2), sha);
        const partial = path.join(dataDir, 'partial', `${sha}.part`);
        await cluster.approve(pkg.id, `k${i}`);
        sluice.push(await watchGrowth(() => (existsSync(partial) ? partial : blob), () => existsSync(blob), size));

        const out = path.join(cluster.dir, `ref-${i}-${rep}.bin`);
        const child = spawn('bash', ['-o', 'pipefail', '-c', `curl -fsS ${cluster.url('hq')}/v1/blobs/${sha} | pv -q -L ${Math.round(rate)} > ${out}`], { stdio: 'ignore' });
        let exited = false;
        child.on('exit', () => (exited = true));
        curl.push(await watchGrowth(() => out, () => exited, size));
      }
      const s = { avg: median(sluice.map((g) => g.avg)), worst: median(sluice.map((g) => g.worst)) };
      const c = { avg: median(curl.map((g) => g.avg)), worst: median(curl.map((g) => g.worst)) };
      const throttles = Math.abs(c.avg / rate - 1) <= 0.1;
      rows.push([fmtRate(rate), fmtRate(s.avg), pct(s.avg / rate), pct(s.worst / rate), ...(throttles ? [fmtRate(c.avg), pct(c.avg / rate), pct(c.worst / rate)] : [`not throttling (${fmtRate(c.avg)})`, '-', '-'])]);
    }
  } finally {
    await cluster.stop();
  }
  return [
    `Scheduled rate: branch pulling R×${seconds}s bytes under a schedule of R, vs curl | pv -L R (median of ${opts.reps}; goal: within ±3% on average, no second above 110%)`,
    table(['rate', 'sluice avg', 'of rate', 'worst 1 s', 'pv -L avg', 'of rate', 'worst 1 s'], rows),
  ].join('\n');
}
