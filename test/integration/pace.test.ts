import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { request } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import { NODE_HEADER } from '../../src/protocol/headers.js';
import { PACE_TTL_MS } from '../../src/schedule/egress.js';
import { PEER_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { release } from '../helpers/replication.js';

let c: Awaited<ReturnType<typeof makeCluster>>;
let hq: SluiceNode;
let base: string;
const MB = 1e6;

const pace = async (rate: string, as: string, token: string | null = PEER_TOKEN) => {
  const res = await request(`${base}/v1/pace?rate=${rate}`, { headers: { [NODE_HEADER]: as, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  return { status: res.statusCode, body: (await res.body.json()) as { pace?: number; error?: { code: string } } };
};

/** Downloads a blob as node `as` would (with its peer token unless `token` is null); resolves with the seconds it took. */
async function download(sha: string, as: string, size: number, token: string | null = PEER_TOKEN): Promise<number> {
  const t0 = performance.now();
  const res = await request(`${base}/v1/blobs/${sha}`, { headers: { [NODE_HEADER]: as, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  assert.equal(res.statusCode, 200);
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  assert.equal(bytes, size);
  return (performance.now() - t0) / 1000;
}

describe('a branch in background mode asks its upstream to pace what it sends (GET /v1/pace)', () => {
  before(async () => {
    c = await makeCluster([{ name: 'hq' }, { name: 'a', upstream: 'hq' }, { name: 'x', upstream: 'a' }]);
    hq = await startNode(c.topology, 'hq', c.secrets);
    base = hq.address.url;
  });

  it('only a proven child of this node may set its own pace', async () => {
    assert.equal((await pace('100000', 'a', null)).status, 401);
    assert.equal((await pace('100000', 'a', 'not-the-peer-token-0123456789')).status, 403);
    const stranger = await pace('100000', 'x');
    assert.equal(stranger.status, 403, 'x fetches from a, not from hq');
    assert.equal(stranger.body.error?.code, 'FORBIDDEN');
    const unnamed = await pace('100000', 'nobody');
    assert.equal(unnamed.status, 403);
    assert.match(JSON.stringify(unnamed.body), /names no node of the topology/);
    assert.equal((await pace('fast', 'a')).status, 400);
    assert.equal((await pace('-5', 'a')).status, 400);
    const ok = await pace('100000', 'a');
    assert.equal(ok.status, 200);
    assert.equal(ok.body.pace, 100000);
    assert.equal((await pace('0', 'a')).body.pace, 0);
  });

  it('sends to the child at its pace while it renews it, and at full speed once it lapses', async () => {
    const blob = await release(base, c.dir, 'big', { size: 3 * 1024 * 1024, ring: null });
    await pace(String(1 * MB), 'a');
    const renew = setInterval(() => void pace(String(1 * MB), 'a'), PACE_TTL_MS / 4);
    let paced: number;
    try {
      paced = await download(blob.sha, 'a', blob.content.length);
    } finally {
      clearInterval(renew);
    }
    // 3 MiB at 1 MB/s is 3.15 s; the budget lets up to 50 ms of idle time through at once.
    assert.ok(paced >= 2.8, `paced download took ${paced.toFixed(2)} s`);
    // Another child is not held to a's pace.
    assert.ok((await download(blob.sha, 'x', blob.content.length)) < paced / 2, 'the pace is per child');
    // A caller that only claims to be a (the header, no token) is not charged to a's pace:
    // else anyone could spend a branch's share of its upstream.
    await pace(String(1 * MB), 'a');
    assert.ok((await download(blob.sha, 'a', blob.content.length, null)) < paced / 2, 'an unproven claim is an endpoint');
    await new Promise((r) => setTimeout(r, PACE_TTL_MS + 200));
    const lapsed = await download(blob.sha, 'a', blob.content.length);
    assert.ok(lapsed < paced / 2, `after the pace lapsed: ${lapsed.toFixed(2)} s`);
  });
});
