import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { createLogger } from '../../src/log/logger.js';
import { PacedBudget } from '../../src/schedule/paced-budget.js';
import { RedisLink } from '../../src/site/redis-link.js';
import { SiteBudget } from '../../src/site/site-budget.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { spawnCli } from '../helpers/cli.js';
import { REPO_ROOT, freePorts, onTeardown, tempDir, waitFor } from '../helpers/env.js';
import { haveRedis, startRedis } from '../helpers/redis.js';
import { holdsExactly, metric, release } from '../helpers/replication.js';

const MiB = 1024 * 1024;
const skip = haveRedis() ? false : 'needs redis-server (scripts/install-test-tools.sh installs it)';

/** hq behind a fault proxy (it counts what crosses the "WAN"), and two siblings of site "lan". */
async function siteCluster(redisUrl: string, regions?: string[], balancerPort?: number) {
  const header = `sites:\n  lan: { redis: "${redisUrl}", leaseTtl: 2s${balancerPort ? `, url: "http://127.0.0.1:${balancerPort}"` : ''} }`;
  return makeCluster([{ name: 'hq', proxied: true }, { name: 's1', upstream: 'hq', extra: 'site: lan' }, { name: 's2', upstream: 'hq', extra: 'site: lan' }], header, regions);
}

const haveNginx = () => !spawnSync('nginx', ['-v']).error;

/** deploy/site-lb/nginx.conf as shipped, with the siblings' and its own addresses put in. */
async function startSiteBalancer(s1: string, s2: string, port: number): Promise<string> {
  const prefix = tempDir('sluice-lb-');
  chmodSync(prefix, 0o755);
  const shipped = readFileSync(path.join(REPO_ROOT, 'deploy/site-lb/nginx.conf'), 'utf8');
  const site = shipped.replaceAll('10.1.0.11:7400', new URL(s1).host).replaceAll('10.1.0.12:7400', new URL(s2).host).replace('listen 7400;', `listen 127.0.0.1:${port};`);
  const tmp = path.join(prefix, 'tmp');
  writeFileSync(path.join(prefix, 'site.conf'), site);
  writeFileSync(
    path.join(prefix, 'nginx.conf'),
    [`pid ${prefix}/nginx.pid;`, `error_log ${prefix}/error.log warn;`, 'daemon off;', 'events {}', 'http {', '  access_log off;', ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${tmp};`), `  include ${prefix}/site.conf;`, '}', ''].join('\n'),
  );
  // Its own process group, killed whole: a SIGKILL to the master alone left its worker
  // running after the suite, still listening.
  const child = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore', detached: true });
  onTeardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Gone already.
    }
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('nginx in front of the siblings', async () => (await request(`${url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200);
  return url;
}

const leaseHolder = (port: number, sha: string) => spawnSync('redis-cli', ['-p', String(port), 'get', `sluice:site:lan:lease:${sha}`], { encoding: 'utf8' }).stdout.trim();

describe('sibling nodes of one site, through a real Redis', { skip }, () => {
  it('each blob crosses the WAN once: one sibling fetches it under a lease, the other copies it from that sibling', async () => {
    const redis = await startRedis();
    const c = await siteCluster(redis.url);
    const proxy = c.proxies.get('hq')!;
    proxy.rateBytesPerSec = 4 * MiB; // about a second per blob: the second sibling asks while the first fetches
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const s1 = await startNode(c.topology, 's1', c.secrets);
    const s2 = await startNode(c.topology, 's2', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'suite', { size: 4 * MiB });
    await waitFor('both siblings to hold the blob', () => holdsExactly(s1, rel.content) && holdsExactly(s2, rel.content), 60_000);
    const wan = proxy.bytesSent.get(rel.sha) ?? 0;
    assert.ok(wan <= 4 * MiB * 1.05, `the upstream sent ${wan} bytes for a ${4 * MiB}-byte blob to a site of two siblings`);
    assert.equal(await metric(s1, 'sluice_site_redis_up'), 1);
  });

  it('a site of two siblings replicates through its scheduled link, each blob once', async () => {
    const redis = await startRedis();
    const c = await siteCluster(redis.url, ['  main: { timezone: UTC, schedule: [{ rate: 1MiB/s }], sync: { every: 10m, jitter: 0s } }']);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const s1 = await startNode(c.topology, 's1', c.secrets);
    const s2 = await startNode(c.topology, 's2', c.secrets);
    const started = Date.now();
    const a = await release(hq.address.url, c.dir, 'a', { size: 2 * MiB });
    const b = await release(hq.address.url, c.dir, 'b', { size: 2 * MiB });
    await waitFor('both siblings to hold both blobs', () => [s1, s2].every((s) => holdsExactly(s, a.content) && holdsExactly(s, b.content)), 60_000);
    const seconds = (Date.now() - started) / 1000;
    const wan = (c.proxies.get('hq')!.bytesSent.get(a.sha) ?? 0) + (c.proxies.get('hq')!.bytesSent.get(b.sha) ?? 0);
    assert.ok(wan <= 4 * MiB * 1.05, `each blob crossed once (${wan} bytes)`);
    // 4 MiB at 1 MiB/s for the site: at least 3 s, even counting the first window's burst.
    // Each sibling alone at 1 MiB/s would have needed about half of that.
    assert.ok(seconds >= 2.8, `4 MiB crossed a 1 MiB/s site link in ${seconds.toFixed(1)} s`);
  });

  it('two siblings taking as fast as they can get the site\'s rate between them, not each', async () => {
    const redis = await startRedis();
    const c = await siteCluster(redis.url);
    const site = c.topology.sites.get('lan')!;
    const rate = 512 * 1024;
    const budgets = ['s1', 's2'].map((name) => {
      const link = new RedisLink(redis.url, createLogger({ level: 'silent' }));
      onTeardown(() => link.close());
      return { link, budget: new SiteBudget(new PacedBudget(rate), site, link) };
    });
    await waitFor('both links to Redis', () => budgets.every((b) => b.link.up));
    const taken = [0, 0];
    const until = Date.now() + 3000;
    await Promise.all(budgets.map(async ({ budget }, i) => {
      while (Date.now() < until) {
        await budget.take(rate / 50);
        taken[i]! += rate / 50;
      }
    }));
    const total = taken[0]! + taken[1]!;
    // Three seconds at the site's rate, plus one window's burst and a slice in flight each:
    // at most 4 s worth. Each on its own budget would take about 6 s worth together.
    assert.ok(total <= rate * 4.1, `the siblings took ${(total / rate).toFixed(2)} s worth of the site's rate in 3 s`);
    assert.ok(taken.every((t) => t > 0), 'both got a share');
  });

  it('without Redis each sibling says so, keeps to its share and still replicates; with Redis back it shares again', async () => {
    const redis = await startRedis();
    const c = await siteCluster(redis.url);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const s1 = await startNode(c.topology, 's1', c.secrets);
    const s2 = await startNode(c.topology, 's2', c.secrets);
    await redis.stop();
    const warning = () => (s1.status() as { warnings: string[] }).warnings.find((w) => w.includes('Redis of site lan'));
    await waitFor('the sibling to say Redis is unreachable', warning);
    assert.match(warning()!, /keeps to 50% of the site's rate/);
    assert.equal(await metric(s1, 'sluice_site_redis_up'), 0);
    const rel = await release(hq.address.url, c.dir, 'offline-redis', { size: MiB });
    await waitFor('both siblings to hold the blob without leases', () => holdsExactly(s1, rel.content) && holdsExactly(s2, rel.content), 30_000);
    await redis.start();
    await waitFor('the warning to clear once Redis is back', () => warning() === undefined, 15_000);
    assert.equal(await metric(s1, 'sluice_site_redis_up'), 1);
  });

  it('the shipped nginx example balances the siblings: updates and blobs from either, an endpoint\'s reports always to the same one', { skip: haveNginx() ? false : 'needs nginx (scripts/install-test-tools.sh installs it)' }, async () => {
    const redis = await startRedis();
    const [lbPort] = await freePorts(1);
    const c = await siteCluster(redis.url, undefined, lbPort);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const s1 = await startNode(c.topology, 's1', c.secrets);
    const s2 = await startNode(c.topology, 's2', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'tool', { size: 256 * 1024 });
    await waitFor('both siblings to hold the blob', () => holdsExactly(s1, rel.content) && holdsExactly(s2, rel.content));
    const lb = await startSiteBalancer(c.topology.nodes.get('s1')!.url, c.topology.nodes.get('s2')!.url, lbPort!);
    const answered = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const u = await request(`${lb}/v1/updates`);
      const body = (await u.body.json()) as { node: string; updates: { id: string; files: { url: string }[] }[] };
      assert.equal(u.statusCode, 200);
      assert.deepEqual(body.updates.map((x) => x.id), ['tool@1']);
      // Endpoints download through the balancer (sites.lan.url), not from one sibling.
      assert.equal(body.updates[0]!.files[0]!.url, `${lb}/v1/blobs/${rel.sha}`);
      answered.add(body.node);
      const blob = await request(body.updates[0]!.files[0]!.url);
      assert.ok(Buffer.from(await blob.body.arrayBuffer()).equals(rel.content));
    }
    assert.ok(answered.size >= 1);
    for (let i = 0; i < 4; i++) {
      const r = await request(`${lb}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ reports: [{ clientId: `pc${i}`, package: 'tool@1', status: 'succeeded', at: new Date().toISOString() }] }) });
      assert.equal(r.statusCode, 200, await r.body.text());
    }
    // One endpoint address: every report went to one sibling, so no endpoint is counted twice.
    const clientsAt = async (name: string) => {
      const r = await request(`${c.topology.nodes.get(name)!.url}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return ((await r.body.json()) as { sites: Record<string, { clients: number }> }).sites[name]!.clients;
    };
    const clients = [await clientsAt('s1'), await clientsAt('s2')].sort();
    assert.deepEqual(clients, [0, 4]);
  });

  it('a sibling killed in mid-transfer: the other takes the lease over when it lapses and finishes', async () => {
    const redis = await startRedis();
    const c = await siteCluster(redis.url);
    const proxy = c.proxies.get('hq')!;
    proxy.rateBytesPerSec = 2 * MiB;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const s1 = spawnCli(['serve', '--node', 's1', '-t', c.file], { env: c.env });
    onTeardown(() => s1.kill('SIGKILL'));
    const s1url = c.topology.nodes.get('s1')!.url;
    await waitFor('s1 ready', async () => (await request(`${s1url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200);
    const rel = await release(hq.address.url, c.dir, 'big', { size: 8 * MiB });
    await waitFor('s1 to fetch under its lease', () => leaseHolder(redis.port, rel.sha) === 's1' && (proxy.bytesSent.get(rel.sha) ?? 0) > MiB, 30_000);
    const s2 = await startNode(c.topology, 's2', c.secrets);
    s1.kill('SIGKILL');
    await waitFor('s2 to finish the blob alone', () => holdsExactly(s2, rel.content), 60_000);
    await waitFor('s2 to give the lease back once it stored the blob', () => leaseHolder(redis.port, rel.sha) === '');
  });

  it('a sibling recorded as holding a blob but gone: the other passes it over and fetches from the upstream', async () => {
    const redis = await startRedis();
    const c = await siteCluster(redis.url);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const s1 = spawnCli(['serve', '--node', 's1', '-t', c.file], { env: c.env });
    onTeardown(() => s1.kill('SIGKILL'));
    const s1url = c.topology.nodes.get('s1')!.url;
    await waitFor('s1 ready', async () => (await request(`${s1url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200);
    const rel = await release(hq.address.url, c.dir, 'kept', { size: MiB });
    const held = () => spawnSync('redis-cli', ['-p', String(redis.port), 'get', `sluice:site:lan:held:${rel.sha}`], { encoding: 'utf8' }).stdout.trim();
    await waitFor('s1 to store the blob and say so', () => held() === 's1', 30_000);
    s1.kill('SIGKILL');
    // s2 starts while s1 is down for good: the record says s1 holds the blob.
    const s2 = await startNode(c.topology, 's2', c.secrets);
    await waitFor('s2 to fetch the blob itself', () => holdsExactly(s2, rel.content), 30_000);
    await waitFor('the record to name s2 as the holder now', () => held() === 's2');
  });
});
