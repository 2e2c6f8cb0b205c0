import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SluiceNode } from '../../src/daemon.js';
import { request } from 'undici';
import { PEER_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { metric, release } from '../helpers/replication.js';

type Tree = { node: string; catalog: { seq: number }; stale?: boolean; children: Record<string, Tree | null> };

/** name → { seq, stale } for every node the status nests, at any depth. */
function flatten(t: Tree): Map<string, { seq: number; stale: boolean }> {
  const out = new Map<string, { seq: number; stale: boolean }>();
  const walk = (name: string, s: Tree) => {
    out.set(name, { seq: s.catalog.seq, stale: s.stale === true });
    for (const [child, cs] of Object.entries(s.children ?? {})) if (cs) walk(child, cs);
  };
  walk(t.node, t);
  return out;
}

const pushedBytes = async (node: SluiceNode) => (await metric(node, 'sluice_push_received_bytes_total{kind="status"}')) + (await metric(node, 'sluice_push_received_bytes_total{kind="reports"}'));

describe('status and report pushes carry what changed', () => {
  it('an idle chain pushes a few hundred bytes; a change, a restart in the middle and a silent leaf all reach the primary', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'mid', upstream: 'hub' }, { name: 'leaf', upstream: 'mid' }]);
    const staleMs = 1500;
    const hq = await startNode(c.topology, 'hq', c.secrets, { statusStaleMs: staleMs });
    let hub = await startNode(c.topology, 'hub', c.secrets, { statusStaleMs: staleMs });
    await startNode(c.topology, 'mid', c.secrets, { statusStaleMs: staleMs });
    const leaf = await startNode(c.topology, 'leaf', c.secrets, { statusStaleMs: staleMs });
    const all = ['hq', 'hub', 'mid', 'leaf'];
    const fresh = (t: Map<string, { seq: number; stale: boolean }>) => all.every((n) => t.has(n) && !t.get(n)!.stale);
    await waitFor('the primary to list the chain', () => fresh(flatten(hq.status() as unknown as Tree)));

    // Idle: at hq, the hub's pushes (statuses and report figures of three nodes) are deltas.
    // Every 200 ms over 2 s is about 10 pushes of each kind: whole, the statuses alone would
    // be ten times the subtree's status; as changes, each push is about a hundred bytes.
    const wholeSize = JSON.stringify((hub.status() as unknown as Tree)).length;
    const before = await pushedBytes(hq);
    const t0 = Date.now();
    await waitFor('two seconds of idle pushes', () => Date.now() - t0 >= 2000, 5000, 100);
    const idle = (await pushedBytes(hq)) - before;
    assert.ok(idle < 3 * wholeSize, `idle pushes sent ${idle} bytes in 2 s; one whole status of the hub's subtree is ${wholeSize}`);

    // A change at the leaf (a new catalog record) reaches the primary.
    await release(hq.address.url, c.dir, 'news');
    await waitFor('the leaf\'s new catalog position at the primary', () => flatten(hq.status() as unknown as Tree).get('leaf')?.seq === hq.catalog.seq);

    // The hub restarts knowing nothing: its children push whole again, and the primary
    // lists the chain again.
    await hub.close();
    hub = await startNode(c.topology, 'hub', c.secrets, { statusStaleMs: staleMs });
    await waitFor('the chain listed again after the hub restarted', () => fresh(flatten(hq.status() as unknown as Tree)));
    // Changes on a push it does not hold are refused with 409, which makes the sender push whole.
    const delta = await request(`${hub.address.url}/v1/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PEER_TOKEN}` },
      body: JSON.stringify({ node: 'mid', epoch: 'an-epoch-the-hub-never-saw', seq: 8, base: 7, entries: {}, removed: [], stale: [] }),
    });
    assert.equal(delta.statusCode, 409);
    assert.equal(((await delta.body.json()) as { error: { code: string } }).error.code, 'PUSH_BASE_UNKNOWN');

    // The leaf goes silent: marked stale above, though nothing about it changed.
    await leaf.close();
    await waitFor('the silent leaf marked stale at the primary', () => flatten(hq.status() as unknown as Tree).get('leaf')?.stale === true, 10_000);
    assert.equal(flatten(hq.status() as unknown as Tree).get('mid')?.stale, false);
  });
});

describe('news climbs the tree without waiting for the next push', () => {
  // The forecast at the primary is only as fresh as the statuses it holds: with a push every
  // statusPushMs per tier, a leaf's new backlog reached the primary up to three periods late.
  it('a leaf\'s new backlog reaches the primary in a few seconds when each tier pushes only every 30 s', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'mid', upstream: 'hub' }, { name: 'leaf', upstream: 'mid', extra: 'region: slow' }], '', [
      '  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }',
      '  slow: { timezone: UTC, schedule: [{ rate: 64KiB/s }], sync: { every: 10m, jitter: 0s } }',
    ]);
    const tuning = { statusPushMs: 30_000, longPollSec: 5 };
    const hq = await startNode(c.topology, 'hq', c.secrets, tuning);
    for (const name of ['hub', 'mid', 'leaf']) await startNode(c.topology, name, c.secrets, tuning);
    const leafAtHq = () => (hq.status() as unknown as { children: { hub?: { children: { mid?: { children: { leaf?: { pending: { blobs: number }; catalog: { seq: number } } | null } } | null } } | null } }).children.hub?.children.mid?.children.leaf;
    // Each node pushes once at start and then every 30 s: the leaf's first status climbs as news.
    await waitFor('the primary to hold the leaf\'s first status', () => Boolean(leafAtHq()), 20_000);
    const rel = await release(c.topology.nodes.get('hq')!.url, c.dir, 'slow-fix', { size: 4 * 1024 * 1024 });
    const approvedAt = Date.now();
    await waitFor('the leaf\'s backlog at the primary', () => (leafAtHq()?.pending.blobs ?? 0) > 0 && leafAtHq()!.catalog.seq === hq.catalog.seq, 12_000);
    const ms = Date.now() - approvedAt;
    process.stdout.write(`# leaf backlog reached the primary ${ms} ms after the approval (pushes every 30 s)\n`);
    assert.ok(rel.sha);
  });
});
