import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { VerifiedCatalog } from '../../src/agent/verified-catalog.js';
import { readPublicKey } from '../../src/catalog/keys.js';
import { CatalogRejected } from '../../src/catalog/verify-page.js';
import { TEST_TUNING, makeCluster, startNode } from '../helpers/cluster.js';
import { freePorts, onTeardown, tempDir, waitFor } from '../helpers/env.js';
import { metric, release } from '../helpers/replication.js';

const LIMITS = { unverifiedMaxRecords: 2000, unverifiedMaxBytes: 64 * 1024 * 1024, unverifiedMaxMs: 60_000, catalogPage: 500 };

describe('a hub that sends unsigned catalog pages for ever', () => {
  it('is a failing peer: staging stays bounded, the node fails over, and nothing staged from it is kept', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', proxied: true }, { name: 'branch', upstream: 'hub', extra: 'fallback: [hq]' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    await startNode(c.topology, 'hub', c.secrets);
    await release(c.topology.nodes.get('hq')!.url, c.dir, 'genuine');
    const proxy = c.proxies.get('hub')!;
    proxy.catalogFault = 'runaway';
    const branch = await startNode(c.topology, 'branch', c.secrets, LIMITS);
    let furthest = 0;
    await waitFor('the branch to reach the primary\'s catalog through its fallback', () => {
      furthest = Math.max(furthest, branch.catalog.receivedTip.seq - branch.catalog.seq);
      return branch.catalog.seq === hq.catalog.seq && branch.catalog.receivedTip.seq === hq.catalog.seq;
    }, 30_000, 5);
    assert.ok(proxy.count('catalog:runaway') >= 1);
    assert.ok(furthest <= LIMITS.unverifiedMaxRecords + LIMITS.catalogPage, `staged ${furthest} records ahead of the verified head`);
    assert.ok((await metric(branch, 'sluice_catalog_rejected_total{reason="unverified"}')) >= 1);
    assert.equal(branch.catalog.state.get('junk@5'), undefined);
  });

  it('an agent gives the server up after a bounded run and keeps its verified copy', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', proxied: true }]);
    await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    await release(c.topology.nodes.get('hq')!.url, c.dir, 'genuine');
    await waitFor('the hub to hold the record', () => hub.catalog.seq >= 2);
    c.proxies.get('hub')!.catalogFault = 'runaway';
    const catalog = await VerifiedCatalog.open(tempDir(), readPublicKey(`${c.dir}/keys/catalog.pub`, "the catalog key"));
    const dispatcher = new Agent();
    try {
      await assert.rejects(catalog.sync(c.topology.nodes.get('hub')!.url, dispatcher, Date.now(), { records: 3000, bytes: 64 * 1024 * 1024, ms: 60_000 }), (err: unknown) => err instanceof CatalogRejected && err.reason === 'unverified');
    } finally {
      await dispatcher.close();
    }
    assert.equal(catalog.position, 0, 'nothing of the run is kept');
  });
});

describe('a hub that answers a catalog poll with a page built to be huge once parsed', () => {
  it('64 MiB of "[]," gzipped into 65 KB: the child refuses it before parsing, heap and event loop bounded, and stays up', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hub' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const n = Math.floor((64 * 1024 * 1024 - 4096) / 3);
    const bomb = gzipSync(`{"records":[${'[],'.repeat(n)}[]],"head":${JSON.stringify(hq.catalog.head)},"more":true}`, { level: 9 });
    assert.ok(bomb.length < 200_000, `the bomb is small on the wire (${bomb.length} bytes)`);
    let served = 0;
    const fake = createServer((req, res) => {
      if (!req.url?.startsWith('/v1/catalog')) return void res.writeHead(404).end();
      served++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    await new Promise<void>((resolve) => fake.listen(c.ports[1], '127.0.0.1', resolve));
    onTeardown(() => new Promise<void>((resolve) => fake.close(() => resolve())));
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    let stall = 0;
    let last = performance.now();
    const sampler = setInterval(() => {
      const now = performance.now();
      stall = Math.max(stall, now - last - 20);
      last = now;
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }, 20);
    try {
      const branch = await startNode(c.topology, 'branch', c.secrets, { ...TEST_TUNING, backoffFloorMs: 20, backoffCapMs: 100 });
      await waitFor('three bombs refused', () => served >= 3, 60_000);
      assert.match(JSON.stringify(branch.status()), /"code":"UPSTREAM_BAD_RESPONSE","message":"catalog from hub: a catalog page of \d+ records (larger than|holding more than)/);
      assert.equal((await request(`${branch.address.url}/healthz`)).statusCode, 200);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peak - before < 256 * 1024 * 1024, `heap grew ${Math.round((peak - before) / 2 ** 20)} MiB`);
  });
});

describe('a node that drips its catalog answer to an agent', () => {
  it('the agent gives the page up at its deadline, so it can try its next server', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const [port] = await freePorts(1);
    const timers = new Set<NodeJS.Timeout>();
    const slow = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      const t = setInterval(() => res.write(' '), 100);
      timers.add(t);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((resolve) => slow.listen(port, '127.0.0.1', resolve));
    onTeardown(() => {
      for (const t of timers) clearInterval(t);
      slow.closeAllConnections();
      return new Promise<void>((resolve) => slow.close(() => resolve()));
    });
    const catalog = await VerifiedCatalog.open(tempDir(), readPublicKey(`${c.dir}/keys/catalog.pub`, 'the catalog key'));
    const dispatcher = new Agent();
    const started = Date.now();
    try {
      await assert.rejects(catalog.sync(`http://127.0.0.1:${port}`, dispatcher, Date.now(), undefined, { headersMs: 1000, bodyMs: 1000 }), /the answer did not complete within 1 s/);
    } finally {
      await dispatcher.close();
    }
    assert.ok(Date.now() - started < 10_000, 'given up at the deadline, not held by each byte that trickled in');
  });
});
