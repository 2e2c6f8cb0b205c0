import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { runCli } from '../helpers/cli.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { hammer } from '../helpers/hammer.js';
import { adminPost, publish, writeFile } from '../helpers/publish.js';
import { holdsExactly, release, sha256 } from '../helpers/replication.js';
import { request } from 'undici';

/** Blobs hammered per run: one in ten hit the window before, so twenty make a miss unlikely. */
const BLOBS = 20;

describe('a relayed request racing the commit of the blob it relays', () => {
  it('is never answered 500: a hub asked every 2 ms from the approval serves the blob or says it lacks it, through the commit', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    const hubUrl = c.topology.nodes.get('hub')!.url;
    for (let i = 0; i < BLOBS; i++) {
      // 500 to 800 KB: relayed as it arrives (not a pack-file blob), committed within milliseconds.
      const content = randomBytes(500_000 + Math.floor(Math.random() * 300_000));
      const blob = { sha256: sha256(content), size: content.length };
      const published = await publish(hq.address.url, { name: `race${i}`, version: '1' }, [writeFile(c.dir, `race${i}.bin`, content)]);
      assert.equal(published.status, 201);
      const approving = adminPost(hq.address.url, `/v1/packages/race${i}@1/approve`, { ring: 'all' });
      const seen = await hammer({ url: (sha) => `${hubUrl}/v1/blobs/${sha}`, blobs: [blob], everyMs: 2, maxInFlight: 30, maxRequests: 3000, maxMs: 15_000, done: () => hub.store.has(blob.sha256) });
      assert.equal((await approving).status, 200);
      assert.deepEqual(seen.serverErrors, [], `blob ${i}: no request is answered 5xx while the hub commits`);
      assert.equal(seen.wrong, 0, 'no complete body with other bytes');
      await waitFor(`the hub to hold blob ${i}`, () => holdsExactly(hub, content));
    }
  });

  it('is never answered 500 at the primary either, while a file fetched from the vendor commits', { skip: aptToolsMissing() }, async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const debs = Array.from({ length: 8 }, (_, i) => repo.addPackage({ name: `vendor${i}`, version: '1', payloadBytes: 500_000 + i * 30_000 }));
    repo.publish({ archs: ['amd64'] });
    const feed = `  vendor: { type: apt, url: "${repo.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}", severity: important }`;
    const c = await makeCluster([{ name: 'hq' }], ['feeds:', feed].join('\n'));
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const hqUrl = c.topology.nodes.get('hq')!.url;
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    assert.equal((await cli('feeds', 'sync', 'vendor')).code, 0);
    await waitFor('the feed\'s packages in the catalog', () => debs.every((_, i) => hq.catalog.state.get(`vendor${i}@1`)));
    for (const [i, deb] of debs.entries()) {
      const blob = { sha256: deb.sha256, size: deb.bytes.length };
      const approving = adminPost(hq.address.url, `/v1/packages/vendor${i}@1/approve`, { ring: 'all' });
      const seen = await hammer({ url: (sha) => `${hqUrl}/v1/blobs/${sha}`, blobs: [blob], everyMs: 2, maxInFlight: 30, maxRequests: 3000, maxMs: 15_000, done: () => hq.store.has(blob.sha256) });
      assert.equal((await approving).status, 200);
      assert.deepEqual(seen.serverErrors, [], `vendor file ${i}: no request is answered 5xx while the primary commits it`);
      assert.equal(seen.wrong, 0);
      await waitFor(`the primary to hold vendor file ${i}`, () => holdsExactly(hq, deb.bytes));
    }
  });
});

describe('a relay whose own transfer fails verification', () => {
  it('is answered RELAY_FAILED (503), never 500, and logged as a warning, not an error', async () => {
    // The hub's egress cap paces what it sends: a relay goes out as a stream, which fails
    // before its first byte here (the last byte waits for a verification that never comes).
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'hub', upstream: 'hq', extra: 'egress: { rate: 1GB/s }' }]);
    const proxy = c.proxies.get('hq')!;
    proxy.rateBytesPerSec = 1024 * 1024;
    proxy.blobFault = 'flip';
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const lines: Record<string, unknown>[] = [];
    const hub = await startNode(c.topology, 'hub', c.secrets, { stallMs: 10_000 }, { logLines: lines });
    const size = 2 * 1024 * 1024;
    const rel = await release(hq.address.url, c.dir, 'flipped', { size });
    await waitFor('the hub to receive the blob', () => hub.status().transfers.find((t) => t.sha256 === rel.sha && t.state === 'active' && t.offset > 0));
    const res = await request(`${c.topology.nodes.get('hub')!.url}/v1/blobs/${rel.sha}`, { headers: { range: `bytes=${size - 1}-${size - 1}` } });
    const body = await res.body.text();
    proxy.blobFault = 'none';
    assert.equal(res.statusCode, 503, body);
    assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'RELAY_FAILED');
    assert.deepEqual(lines.filter((l) => Number(l.level) >= 50), [], 'nothing logged as an error');
    assert.ok(lines.some((l) => l.level === 40 && l.code === 'RELAY_FAILED'), 'logged as a warning');
    await waitFor('the hub to hold the blob once its upstream sends it whole', () => holdsExactly(hub, rel.content), 30_000);
  });
});
