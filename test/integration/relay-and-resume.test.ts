import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { PacedBudget } from '../../src/schedule/paced-budget.js';
import { LevelCheckpoints } from '../../src/store/level-checkpoints.js';
import { fetchBlob } from '../../src/download/fetch-blob.js';
import { freshStore } from '../helpers/store.js';
import { openMetaDb } from '../../src/store/meta-db.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { holdsExactly, release } from '../helpers/replication.js';

/** GETs a blob as a plain client would: status, bytes received, and whether the body completed. */
async function plainGet(url: string): Promise<{ status: number; body: Buffer; complete: boolean }> {
  const res = await request(url);
  const parts: Buffer[] = [];
  try {
    for await (const chunk of res.body) parts.push(chunk as Buffer);
    return { status: res.statusCode, body: Buffer.concat(parts), complete: true };
  } catch {
    return { status: res.statusCode, body: Buffer.concat(parts), complete: false };
  }
}

describe('a node never completes a response with bytes it has not verified', () => {
  it('while its upstream corrupts a blob, plain clients of the relaying hub never get a complete wrong body; clean relays still stream before the blob is stored', async () => {
    // Corruption between hq and the hub (the proxy is hq's url); clients ask the hub directly.
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'hub', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    const base = `http://127.0.0.1:${c.ports[0]}`;
    const size = 2 * 1024 * 1024;
    proxy.blobFault = 'flip';
    proxy.rateBytesPerSec = 8 * 1024 * 1024;
    const bad = await release(base, c.dir, 'flipped', { size });
    const url = `${hub.address.url}/v1/blobs/${bad.sha}`;
    await waitFor('the hub to know the package', () => hub.catalog.seq === hq.catalog.seq);
    let wrongComplete = 0;
    let relayedBytes = 0;
    let attempts = 0;
    const deadline = Date.now() + 20_000;
    // Bounded in count and time; goes on until several corrupted transfers were relayed.
    const fetching = () => (hub.status() as { transfers: { sha256: string; state: string }[] }).transfers.some((t) => t.sha256 === bad.sha && t.state === 'active');
    while (attempts < 40 && (attempts < 8 || proxy.count('blob:flip') < 3) && Date.now() < deadline) {
      const r = await plainGet(url);
      // Between two of the hub's attempts (its backoff after a mismatch) the answer is a quick
      // 404: wait for its next attempt rather than spend the bounded tries on those.
      if (r.status === 404) {
        await waitFor('the hub to fetch the blob again', fetching, Math.max(1, deadline - Date.now())).catch(() => undefined);
        continue;
      }
      attempts++;
      if (r.status === 200) relayedBytes = Math.max(relayedBytes, r.body.length);
      if (r.status === 200 && r.complete && !createHash('sha256').update(r.body).digest('hex').startsWith(bad.sha)) wrongComplete++;
    }
    assert.ok(proxy.count('blob:flip') >= 2, 'the hub received corrupted bodies');
    assert.ok(relayedBytes > size / 2, `clients were relayed the live transfer (${relayedBytes} bytes at most)`);
    assert.equal(wrongComplete, 0, `${wrongComplete} of ${attempts} plain GETs completed with corrupted bytes`);
    assert.ok(!hub.store.has(bad.sha));

    // Once the upstream is clean, a client still receives the blob while the hub is receiving it.
    proxy.blobFault = 'none';
    proxy.rateBytesPerSec = 2 * 1024 * 1024;
    const good = await release(base, c.dir, 'clean', { size });
    await waitFor('the hub to know the package', () => hub.catalog.seq === hq.catalog.seq);
    const res = await request(`${hub.address.url}/v1/blobs/${good.sha}`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    const parts: Buffer[] = [];
    let beforeStored = 0;
    for await (const chunk of res.body) {
      parts.push(chunk as Buffer);
      if (!hub.store.has(good.sha)) beforeStored += (chunk as Buffer).length;
    }
    assert.ok(Buffer.concat(parts).equals(good.content), 'the relayed body is exact');
    assert.ok(beforeStored >= size / 2, `cut-through: ${beforeStored} bytes arrived before the hub stored the blob`);

    // A relayed range that stops before the last byte is not cacheable.
    proxy.rateBytesPerSec = 1024 * 1024;
    const ranged = await release(base, c.dir, 'ranged', { size });
    await waitFor('the hub to start receiving', () => existsSync(path.join(hub.spec.dataDir, 'partial', `${ranged.sha}.part`)));
    const head = await request(`${hub.address.url}/v1/blobs/${ranged.sha}`, { headers: { range: 'bytes=0-1023' } });
    const first = Buffer.from(await head.body.arrayBuffer());
    assert.equal(head.statusCode, 206);
    assert.equal(head.headers['cache-control'], 'no-store');
    assert.ok(first.equals(ranged.content.subarray(0, 1024)));
  });
});

describe('resumes that can finish', () => {
  it('a partial whose checkpoint already covers the whole blob is verified and stored without asking the upstream again', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    await startNode(c.topology, 'hq', c.secrets);
    let branch = await startNode(c.topology, 'branch', c.secrets);
    const base = `http://127.0.0.1:${c.ports[0]}`;
    const size = 6 * 1024 * 1024;
    proxy.blobFault = 'cut';
    const rel = await release(base, c.dir, 'whole', { size });
    const partial = path.join(branch.spec.dataDir, 'partial', `${rel.sha}.part`);
    await waitFor('a cut transfer leaving a partial', () => proxy.count('blob:cut') >= 1 && existsSync(partial) && statSync(partial).size > 0);
    await branch.close();
    // As after a crash between the last write and the rename: every byte there, checkpointed.
    writeFileSync(partial, rel.content);
    const db = await openMetaDb(branch.spec.dataDir);
    await new LevelCheckpoints(db).set(rel.sha, size);
    await db.close();
    proxy.blobFault = 'none';
    const asked = proxy.blobRequests.filter((r) => r.sha === rel.sha).length;
    branch = await startNode(c.topology, 'branch', c.secrets);
    await waitFor('the full partial to become the blob', () => holdsExactly(branch, rel.content), 10_000);
    assert.equal(proxy.blobRequests.filter((r) => r.sha === rel.sha).length, asked, 'no request for a blob already held whole');
  });
});

describe('an aborted transfer', () => {
  it('aborted while its resume point is computed never sends its request (a shutdown is not held by it)', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    proxy.rateBytesPerSec = 256 * 1024;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'slow', { size: 4 * 1024 * 1024 });
    const { store } = await freshStore();
    const partial = await store.openDownload(rel.sha, rel.content.length);
    const controller = new AbortController();
    const started = Date.now();
    const attempt = fetchBlob({
      partial,
      route: { name: 'hq', node: c.topology.nodes.get('hq')!.url },
      selfName: 'branch',
      budget: new PacedBudget(Infinity),
      signal: controller.signal,
      stallMs: 30_000,
      checkpointBytes: 64 * 1024 * 1024,
      checkpointMs: 5000,
    });
    controller.abort(); // while fetchBlob awaits the partial's resume point
    await assert.rejects(attempt);
    assert.ok(Date.now() - started < 5000, `the attempt ran ${Date.now() - started} ms after its abort`);
    assert.equal(proxy.blobRequests.filter((r) => r.sha === rel.sha).length, 0, 'no request was sent');
  });
});
