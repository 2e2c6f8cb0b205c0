import path from 'node:path';
import { existsSync } from 'node:fs';
import { Agent, request } from 'undici';
import { startCluster, until } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { currentRss, peakRss } from '../lib/proc.js';
import { table } from '../lib/report.js';
import { defaultsFor, describeEnv, unitEnvironment } from '../lib/unit-env.js';

/**
 * Peak RSS of a downstream node replicating a huge blob while serving 100 concurrent
 * downloads: once as the systemd unit runs a node (its environment: NODE_OPTIONS, glibc's
 * malloc tunables), once with Node.js's and glibc's defaults, so the settings' share is visible.
 */
export async function memoryScenario(opts: { quick: boolean }): Promise<string> {
  const size = opts.quick ? 256 * 1024 ** 2 : 4 * 1024 ** 3;
  const unit = unitEnvironment();
  const runs = [
    ...(Object.keys(unit).length ? [{ name: `as the systemd unit runs it (${describeEnv(unit)})`, env: unit }] : []),
    { name: 'Node.js and glibc defaults', env: { ...defaultsFor(unit), NODE_OPTIONS: '' } },
  ];
  const rows: string[][] = [];
  let downloads = 0;
  for (const run of runs) {
    const r = await measure(size, run.env);
    downloads += r.downloads;
    rows.push([run.name, `${(r.idle / 1024 ** 2).toFixed(0)} MiB`, `${(r.peak / 1024 ** 2).toFixed(0)} MiB`, '≤ 150 MiB peak', r.peak <= 150 * 1024 ** 2 ? 'met' : 'NOT MET']);
  }
  return [
    `Memory: peak RSS of a downstream node replicating ${(size / 1024 ** 3).toFixed(0)} GiB while serving 100 concurrent downloads of a 64 MiB blob (${downloads} downloads completed in all)`,
    table(['node run', 'idle RSS', 'peak RSS', 'target', ''], rows),
  ].join('\n');
}

async function measure(size: number, env: Record<string, string>): Promise<{ idle: number; peak: number; downloads: number }> {
  const cluster = await startCluster([{ name: 'hq' }, { name: 'b', upstream: 'hq' }], { env });
  let peak = NaN;
  let idle = NaN;
  let downloads = 0;
  try {
    // An idle downstream node, ready, holding nothing yet.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    idle = currentRss(cluster.children.get('b')!.pid!);
    const served = writeRandomFile(path.join(cluster.dir, 'served.bin'), 64 * 1024 * 1024);
    const s = await cluster.publish('served', '1', [served]);
    await cluster.approve(s.id);
    const servedBlob = path.join(cluster.dataDir('b'), 'blobs', s.sha[0]!.slice(0, 2), s.sha[0]!);
    await until('the served blob at b', () => existsSync(servedBlob), 120_000, 20);
    const huge = writeRandomFile(path.join(cluster.dir, 'huge.bin'), size);
    const h = await cluster.publish('huge', '1', [huge]);
    const hugeBlob = path.join(cluster.dataDir('b'), 'blobs', h.sha[0]!.slice(0, 2), h.sha[0]!);
    const agent = new Agent({ connections: 100 });
    let done = false;
    const clients = Array.from({ length: 100 }, async () => {
      while (!done) {
        const res = await request(`${cluster.url('b')}/v1/blobs/${s.sha[0]}`, { dispatcher: agent });
        for await (const _ of res.body) void _;
        downloads++;
      }
    });
    await cluster.approve(h.id);
    await until('the huge blob at b', () => existsSync(hugeBlob), 1_200_000, 50);
    done = true;
    await Promise.all(clients);
    await agent.close();
    peak = peakRss(cluster.children.get('b')!.pid!);
  } finally {
    await cluster.stop();
  }
  return { idle, peak, downloads };
}
