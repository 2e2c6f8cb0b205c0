import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startCluster, until } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { haveTool, startNginx } from '../lib/nginx.js';
import { median, table } from '../lib/report.js';
import { cpuSplit } from '../lib/proc.js';
import { runWrk, type WrkResult } from '../lib/wrk.js';

const SMALL = 200;

/**
 * Serving, measured from outside: wrk (C, two threads) against a branch and against nginx
 * serving the same files from the same disk, in the same run. Loads: 200 distinct 16 KiB
 * blobs walked in turn (wrk -t2 -c32), one hot 16 KiB blob, and a 64 MiB blob (-t2 -c4).
 * wrk's own ceiling (nginx answering a 2-byte body) is printed, so a ratio is never the
 * client's limit; a run with any error response is refused.
 */
export async function servingScenario(opts: { quick: boolean; reps: number; tls?: boolean }): Promise<string> {
  const label = opts.tls ? 'Serving over TLS' : 'Serving';
  if (!haveTool('wrk', 'apt-get install wrk') || !haveTool('nginx', 'apt-get install nginx-light')) return `${label}: skipped (needs wrk and nginx)`;
  const seconds = opts.quick ? 3 : 8;
  const cluster = await startCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], { tls: opts.tls });
  const www = path.join(cluster.dir, 'www');
  mkdirSync(www);
  const smallFiles = Array.from({ length: SMALL }, (_, i) => writeRandomFile(path.join(cluster.dir, `s${i}.bin`), 16 * 1024));
  const big = writeRandomFile(path.join(cluster.dir, 'big.bin'), 64 * 1024 * 1024);
  const smallPkg = await cluster.publish('small', '1', smallFiles);
  const bigPkg = await cluster.publish('big', '1', [big]);
  await cluster.approve(smallPkg.id);
  await cluster.approve(bigPkg.id);
  await until('the branch to hold every blob', async () => (await cluster.status('branch')).store.blobs === SMALL + 1, 120_000);
  // nginx serves the same bytes under the same names, from the same filesystem.
  for (const [i, f] of [...smallFiles, big].entries()) {
    const dest = path.join(www, [...smallPkg.sha, ...bigPkg.sha][i]!);
    copyFileSync(f.path, dest);
    chmodSync(dest, 0o644);
  }
  // Over TLS, nginx presents the branch's own certificate and key: the same handshake and cipher.
  const nginx = await startNginx(www, cluster.dir, opts.tls ? { cert: path.join(cluster.dir, 'keys', 'tls', 'branch.crt'), key: path.join(cluster.dir, 'keys', 'tls', 'branch.key') } : undefined);
  const node = cluster.url('branch');
  const loads: { name: string; sluice: string[]; nginx: string[]; threads: number; connections: number; measure: (r: WrkResult) => number; unit: string; target: number }[] = [
    { name: `${SMALL} distinct 16 KiB blobs`, sluice: smallPkg.sha.map((s) => `${node}/v1/blobs/${s}`), nginx: smallPkg.sha.map((s) => `${nginx.url}/${s}`), threads: 2, connections: 32, measure: (r) => r.requestsPerSec, unit: 'req/s', target: 0.9 },
    { name: 'one hot 16 KiB blob', sluice: [`${node}/v1/blobs/${smallPkg.sha[0]}`], nginx: [`${nginx.url}/${smallPkg.sha[0]}`], threads: 2, connections: 32, measure: (r) => r.requestsPerSec, unit: 'req/s', target: 0.9 },
    { name: '64 MiB blob', sluice: [`${node}/v1/blobs/${bigPkg.sha[0]}`], nginx: [`${nginx.url}/${bigPkg.sha[0]}`], threads: 2, connections: 4, measure: (r) => r.bytesPerSec / 1e6, unit: 'MB/s', target: opts.tls ? 1.0 : 0.9 },
  ];
  const results = new Map<string, { sluice: number[]; nginx: number[] }>();
  // Server CPU per request, user and kernel apart (the node's process; nginx's worker).
  const cpu = new Map<string, { sluice: { user: number; system: number }[]; nginx: { user: number; system: number }[] }>();
  const pidOf = { sluice: cluster.children.get('branch')!.pid!, nginx: nginx.workerPid() };
  let ceiling = 0;
  try {
    ceiling = (await runWrk([`${nginx.url}/__ceiling`], { threads: 2, connections: 32, seconds, dir: cluster.dir, name: 'ceiling' })).requestsPerSec;
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const load of loads) {
        const r = results.get(load.name) ?? { sluice: [], nginx: [] };
        // Alternate who goes first, so neither always meets a warmer cache.
        const order = rep % 2 === 0 ? (['sluice', 'nginx'] as const) : (['nginx', 'sluice'] as const);
        for (const who of order) {
          const before = cpuSplit(pidOf[who]);
          const w = await runWrk(load[who], { threads: load.threads, connections: load.connections, seconds, dir: cluster.dir, name: `${who}-${rep}` });
          const after = cpuSplit(pidOf[who]);
          if (w.errors > 0 || !Number.isFinite(w.requestsPerSec)) throw new Error(`bench: ${who} answered ${w.errors} errors under "${load.name}"; the figure would be invalid`);
          r[who].push(load.measure(w));
          const c = cpu.get(load.name) ?? { sluice: [], nginx: [] };
          c[who].push({ user: ((after.user - before.user) / w.requests) * 1e6, system: ((after.system - before.system) / w.requests) * 1e6 });
          cpu.set(load.name, c);
        }
        results.set(load.name, r);
      }
    }
  } finally {
    await nginx.stop();
    await cluster.stop();
  }
  const rows = loads.map((load) => {
    const r = results.get(load.name)!;
    const s = median(r.sluice);
    const n = median(r.nginx);
    return [load.name, `${s.toFixed(0)} ${load.unit}`, `${n.toFixed(0)} ${load.unit}`, `${(s / n).toFixed(2)}×`, `≥ ${load.target}×`, s / n >= load.target ? 'met' : 'NOT MET'];
  });
  const perRequest = (xs: { user: number; system: number }[]) => `${median(xs.map((x) => x.user)).toFixed(1)} + ${median(xs.map((x) => x.system)).toFixed(1)} µs`;
  const cpuRows = loads.filter((l) => l.unit === 'req/s').map((load) => [load.name, perRequest(cpu.get(load.name)!.sluice), perRequest(cpu.get(load.name)!.nginx)]);
  return [
    `${label} from a branch: wrk -t2 (outside the node and the bench), ${seconds} s per run, median of ${opts.reps}; nginx (1 worker, sendfile${opts.tls ? ', the branch\'s certificate and key' : ''}) serves the same files`,
    table(['load', 'sluice', 'nginx', 'ratio', 'target', ''], rows),
    `wrk's own ceiling on this machine: ${ceiling.toFixed(0)} req/s (-c32 against nginx answering a 2-byte body${opts.tls ? ' over TLS' : ''})`,
    'server CPU per request, user + kernel (median; /proc of the node and of nginx\'s worker around each run):',
    table(['load', 'sluice', 'nginx'], cpuRows),
  ].join('\n');
}
