import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { converged, holdsExactly, metric, release } from '../helpers/replication.js';

describe('the upstream dies', () => {
  it('the branch switches to its fallback, completes, and returns to its upstream once it recovers', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hub', extra: 'fallback: [hq]' }]);
    const base = c.topology.nodes.get('hq')!.url;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    let hub = await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    await release(base, c.dir, 'before');
    await converged(branch, hq.catalog.seq);

    await hub.close();
    const rel = await release(base, c.dir, 'during-outage', { size: 1024 * 1024 });
    await waitFor('the branch to fetch from its fallback', () => holdsExactly(branch, rel.content));
    const during = branch.status() as { upstream: { current: string; preferred: string } };
    assert.deepEqual([during.upstream.preferred, during.upstream.current], ['hub', 'hq']);
    assert.equal(await metric(branch, 'sluice_upstream_up{peer="hub"}'), 0);
    assert.equal(branch.catalog.seq, hq.catalog.seq);

    hub = await startNode(c.topology, 'hub', c.secrets);
    await waitFor('the branch to return to its upstream', () => (branch.status() as { upstream: { current: string } }).upstream.current === 'hub');
    const after = await release(base, c.dir, 'after-recovery');
    await converged(branch, hq.catalog.seq);
    assert.ok(holdsExactly(branch, after.content));
  });
});

describe('an expired catalog head', () => {
  it('replayed by the upstream is rejected as "expired"; the branch keeps its state', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }], '');
    // Short head lifetime: the primary re-signs every second, so the first head soon expires.
    const { topology } = await import('../../src/topology/load.js').then(async (m) => {
      const fs = await import('node:fs');
      fs.writeFileSync(c.file, fs.readFileSync(c.file, 'utf8').replace('trust: { catalogKey: keys/catalog.pub }', 'trust: { catalogKey: keys/catalog.pub, headTtl: 3s }'));
      return { topology: m.loadTopology(c.file) };
    });
    const proxy = c.proxies.get('hq')!;
    const hq = await startNode(topology, 'hq', c.secrets);
    const branch = await startNode(topology, 'branch', c.secrets, { longPollSec: 1 });
    await release(topology.nodes.get('hq')!.url, c.dir, 'one');
    await converged(branch, hq.catalog.seq);
    const firstExpiry = Date.parse(hq.catalog.head!.expires);
    await waitFor('the first signed head to expire', () => Date.now() > firstExpiry + 100, 10_000);
    assert.ok(Date.parse(branch.catalog.head!.expires) > Date.now(), 'the branch holds a fresh, re-signed head');
    const seq = branch.catalog.seq;
    const before = await metric(branch, 'sluice_catalog_rejected_total{reason="expired"}');
    proxy.catalogFault = 'replay-expired';
    await waitFor('an "expired" rejection', async () => (await metric(branch, 'sluice_catalog_rejected_total{reason="expired"}')) > before);
    assert.equal(branch.catalog.seq, seq);
    proxy.catalogFault = 'none';
  });
});

describe('start-up reconciliation', () => {
  it('a recorded blob that went missing while the node was down is fetched again; a stray file is removed', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const base = c.topology.nodes.get('hq')!.url;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    let branch = await startNode(c.topology, 'branch', c.secrets);
    const rel = await release(base, c.dir, 'kept', { size: 300_000 });
    await converged(branch, hq.catalog.seq);
    const blobPath = branch.store.pathOf(rel.sha);
    const stray = path.join(path.dirname(blobPath), 'f'.repeat(64));
    await branch.close();
    rmSync(blobPath);
    writeFileSync(stray, 'not wanted by anyone');
    branch = await startNode(c.topology, 'branch', c.secrets);
    await waitFor('the missing blob to be fetched again', () => holdsExactly(branch, rel.content));
    assert.ok(!existsSync(stray));
  });
});

describe('long-poll not honoured', () => {
  it('a node whose upstream answers long-polls at once polls every sync.every instead, and still converges', async () => {
    const c = await makeCluster(
      [{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq', extra: 'region: polled' }],
      '',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  polled: { timezone: UTC, sync: { every: 1s, jitter: 0s } }'],
    );
    const proxy = c.proxies.get('hq')!;
    proxy.stripWait = true;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const polls = () => proxy.catalogRequests.filter((r) => r.node === 'branch');
    await waitFor('three early answers and then interval polls', () => polls().length >= 6, 15_000);
    const times = polls().map((r) => r.at);
    // After three early answers in a row the node waits sync.every (1 s) between polls.
    const gaps = times.slice(4).map((t, i) => t - times[3 + i]!);
    assert.ok(gaps.every((g) => g >= 900), `gaps between polls: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
    const rel = await release(c.topology.nodes.get('hq')!.url, c.dir, 'polled');
    await converged(branch, hq.catalog.seq);
    assert.ok(holdsExactly(branch, rel.content));
  });
});
