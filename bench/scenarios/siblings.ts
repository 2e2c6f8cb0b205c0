import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { freePort, startCluster, until } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { haveTool } from '../lib/nginx.js';
import { table } from '../lib/report.js';
import { createLogger } from '../../src/log/logger.js';
import { PacedBudget } from '../../src/schedule/paced-budget.js';
import { RedisLink } from '../../src/site/redis-link.js';
import { SiteBudget } from '../../src/site/site-budget.js';

const MB = 1e6;
const SIBLINGS = ['s1', 's2', 's3'];

/**
 * Three sibling nodes of one site behind a 20 MB/s schedule, sharing it through a real
 * redis-server: the sum of their ingress from the upstream against the site's rate, sampled
 * every 250 ms between 10% and 90% of the bytes (the steady part), with Redis and then with
 * Redis stopped (each falls back to a third). And how many times each blob crossed.
 */
export async function siblingsScenario(opts: { quick: boolean }): Promise<string> {
  if (!haveTool('redis-server', 'apt-get install redis-server')) return 'Siblings: skipped (needs redis-server)';
  const rate = 20 * MB;
  const blobs = opts.quick ? 8 : 16;
  const blobBytes = 16 * MB;
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const ping = () => spawnSync('redis-cli', ['-p', String(redisPort), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG';
  await until('redis-server', ping, 10_000, 50);
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.split(' ').find((w) => w.startsWith('v='))?.slice(2) ?? '?';
  const cluster = await startCluster([{ name: 'hq' }, ...SIBLINGS.map((name) => ({ name, upstream: 'hq', extra: 'region: site, site: lan' }))], {
    header: `sites:\n  lan: { redis: "redis://127.0.0.1:${redisPort}" }`,
    regions: [`  site: { timezone: UTC, schedule: [{ rate: 20MB/s }], sync: { every: 10m, jitter: 0s } }`],
  });
  const rows: string[][] = [];
  try {
    /** Bytes the siblings have read from hq (not from each other). */
    const wanBytes = async () => (await Promise.all(SIBLINGS.map((s) => cluster.metric(s, 'sluice_transfer_bytes_total{direction="in",peer="hq"}')))).map((n) => n || 0);
    let expected = 0;
    const phase = async (label: string, tag: string) => {
      expected += blobs;
      const files = Array.from({ length: blobs }, (_, i) => writeRandomFile(path.join(cluster.dir, `${tag}${i}.bin`), blobBytes));
      const before = await wanBytes();
      const pkg = await cluster.publish(tag, '1', files);
      const total = blobs * blobBytes;
      const samples: { t: number; bytes: number }[] = [];
      await cluster.approve(pkg.id);
      await until(`${label}: every sibling to hold every blob`, async () => {
        const now = await wanBytes();
        samples.push({ t: performance.now(), bytes: now.reduce((a, b, i) => a + b - before[i]!, 0) });
        const held = await Promise.all(SIBLINGS.map((s) => cluster.status(s)));
        return held.every((s) => s.store.blobs >= expected);
      }, 600_000, 250);
      const at = (fraction: number) => samples.find((s) => s.bytes >= fraction * total)!;
      const a = at(0.1);
      const b = at(0.9);
      const steady = (b.bytes - a.bytes) / ((b.t - a.t) / 1000);
      const crossed = samples[samples.length - 1]!.bytes / total;
      const perSibling = (await wanBytes()).map((n, i) => `${SIBLINGS[i]} ${((n - before[i]!) / MB).toFixed(0)} MB`).join(', ');
      rows.push([label, `${(steady / MB).toFixed(2)} MB/s`, `${((steady / rate) * 100).toFixed(1)}%`, `${crossed.toFixed(2)}×`, perSibling]);
    };
    await phase('with Redis: shared budget, leases', 'a');
    // The budget alone, with every sibling taking at once (with leases, the first sibling to
    // ask fetches each blob, so above the others mostly copy): three budgets on the same
    // Redis, each asking as fast as it can for 10 s.
    {
      const site = { name: 'lan-budget', redisUrl: `redis://127.0.0.1:${redisPort}`, leaseTtlMs: 30_000, url: undefined, members: SIBLINGS };
      const links = SIBLINGS.map(() => new RedisLink(site.redisUrl, createLogger({ level: 'silent' })));
      await until('links to Redis', () => links.every((l) => l.up), 10_000, 20);
      const budgets = links.map((l) => new SiteBudget(new PacedBudget(rate), site, l));
      const seconds = opts.quick ? 5 : 10;
      const taken = budgets.map(() => 0);
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      await Promise.all(budgets.map(async (b, i) => {
        while (performance.now() < end) {
          await b.take(rate / 50);
          taken[i]! += rate / 50;
        }
      }));
      const elapsed = (performance.now() - t0) / 1000;
      const sum = taken.reduce((x, y) => x + y, 0) / elapsed;
      rows.push([`budget alone: ${SIBLINGS.length} takers at once for ${seconds} s`, `${(sum / MB).toFixed(2)} MB/s`, `${((sum / rate) * 100).toFixed(1)}%`, '-', taken.map((t, i) => `${SIBLINGS[i]} ${(t / MB).toFixed(0)} MB`).join(', ')]);
      await Promise.all(links.map((l) => l.close()));
    }
    redis.kill('SIGKILL');
    await until('the siblings to notice Redis is gone', async () => (await Promise.all(SIBLINGS.map((s) => cluster.metric(s, 'sluice_site_redis_up')))).every((v) => v === 0), 30_000, 100);
    await phase('Redis stopped: a third each, no leases', 'b');
  } finally {
    redis.kill('SIGKILL');
    await cluster.stop();
  }
  return [
    `Siblings: ${SIBLINGS.length} nodes of one site, schedule 20 MB/s for the site, redis-server ${redisVersion}; ${blobs} × 16 MB blobs per phase`,
    table(['phase', 'sum of ingress from the upstream (10%-90%)', 'of the site rate', 'WAN bytes / blob bytes', 'by sibling'], rows),
    'target: within ±3% of the site rate with Redis; each blob crosses once (1.00×).',
  ].join('\n');
}
