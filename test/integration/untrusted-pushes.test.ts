import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { PEER_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { metric } from '../helpers/replication.js';

type Tree = { node: string; children: Record<string, Tree | null> };
const names = (t: Tree): string[] => [t.node, ...Object.entries(t.children ?? {}).flatMap(([n, c]) => (c ? names(c) : [n]))];

async function push(url: string, body: unknown) {
  const res = await request(`${url}/v1/status`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PEER_TOKEN}` }, body: JSON.stringify(body) });
  return { status: res.statusCode, body: (await res.body.json()) as { ok?: boolean; error?: { code: string; message: string } } };
}

const whole = (node: string, entries: Record<string, { parent: string | null; value: unknown }>) => ({ node, epoch: `e-${node}`, seq: 1, base: null, entries, removed: [], stale: [] });

describe('pushed status entries are checked at every hop', () => {
  it('an entry of the wrong shape is refused (400 PUSH_INVALID, counted), never stored, and the console and its live stream stand', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'leaf', upstream: 'hub' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    await waitFor('the hub listed at the primary', () => names(hq.status() as unknown as Tree).includes('hub'));

    // The leaf, with a valid credential, sends itself as `{}`: refused at the hub.
    const atHub = await push(hub.address.url, whole('leaf', { leaf: { parent: null, value: {} } }));
    assert.equal(atHub.status, 400);
    assert.equal(atHub.body.error?.code, 'PUSH_INVALID');
    assert.match(atHub.body.error!.message, /"leaf"/);
    assert.equal(await metric(hub, 'sluice_pushes_refused_total{reason="invalid_entry"}'), 1);

    // A hub relaying a bad entry for a node below it is refused at the primary just the same.
    const atHq = await push(hq.address.url, whole('hub', { hub: { parent: null, value: hub.status() }, leaf: { parent: 'hub', value: { node: 'leaf', transfers: 'not a list' } } }));
    assert.equal(atHq.status, 400);
    assert.equal(atHq.body.error?.code, 'PUSH_INVALID');

    // Nothing of either was stored: the trees list the leaf as not heard from, and render.
    const tree = await request(`${hq.address.url}/ui/tree`);
    assert.equal(tree.statusCode, 200);
    assert.match(await tree.body.text(), /hub/);
    const hubTree = await request(`${hub.address.url}/ui/tree`);
    assert.equal(hubTree.statusCode, 200);
    await hubTree.body.dump();

    // The live tree stream renders once a second: both nodes keep answering after two ticks.
    const controller = new AbortController();
    const stream = await request(`${hq.address.url}/ui/events?topics=tree`, { signal: controller.signal });
    assert.equal(stream.statusCode, 200);
    let received = '';
    stream.body.on('data', (d: Buffer) => (received += d.toString()));
    stream.body.on('error', () => undefined);
    await waitFor('a tree event on the live stream', () => received.includes('event: tree'), 10_000);
    controller.abort();
    const ready = await request(`${hq.address.url}/readyz`);
    assert.equal(ready.statusCode, 200);
    await ready.body.dump();
  });

  it('one node cannot store a 30 MB entry for itself: refused as too large, and the status above stays small', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'leaf', upstream: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const leaf = await startNode(c.topology, 'leaf', c.secrets);
    await waitFor('the leaf listed at the primary', () => names(hq.status() as unknown as Tree).includes('leaf'));
    const huge = { ...(leaf.status() as unknown as Record<string, unknown>), children: undefined, warnings: ['x'.repeat(1000)], region: 'main', junk: 'y'.repeat(30 * 1000 * 1000) };
    const res = await push(hq.address.url, whole('leaf', { leaf: { parent: null, value: huge } }));
    assert.equal(res.status, 400);
    assert.equal(res.body.error?.code, 'PUSH_INVALID');
    assert.equal(await metric(hq, 'sluice_pushes_refused_total{reason="entry_too_large"}'), 1);
    const status = await request(`${hq.address.url}/v1/status`);
    const text = await status.body.text();
    assert.ok(text.length < 200_000, `GET /v1/status is ${text.length} bytes`);
  });
});
