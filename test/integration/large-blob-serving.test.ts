import assert from 'node:assert/strict';

import { describe, it } from 'node:test';
import { request } from 'undici';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { metric, release } from '../helpers/replication.js';
import { openDescriptors } from '../helpers/process.js';

const strip = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));

describe('a whole large blob is sent before the framework, through reused buffers', () => {
  it('answers exactly as the route does (same headers, same bytes), counts the bytes, and reuses its read buffers', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'big', { size: 3 * 1024 * 1024 + 5 });
    const url = `${hq.address.url}/v1/blobs/${rel.sha}`;
    // A query string sends the same request through the route.
    const routed = await request(`${url}?via=route`);
    const routedBody = Buffer.from(await routed.body.arrayBuffer());
    const before = await metric(hq, 'sluice_transfer_bytes_total{direction="out",peer="endpoint"}');
    const fast = await request(url);
    const fastBody = Buffer.from(await fast.body.arrayBuffer());
    assert.equal(fast.statusCode, 200);
    assert.deepEqual(strip(fast.headers), strip(routed.headers));
    assert.ok(fastBody.equals(rel.content) && routedBody.equals(rel.content));
    assert.equal((await metric(hq, 'sluice_transfer_bytes_total{direction="out",peer="endpoint"}')) - before, rel.content.length);
    const head = await request(url, { method: 'HEAD' });
    await head.body.dump();
    assert.deepEqual(strip(head.headers), strip(routed.headers));
    // The buffers of the copy above come back (once the node saw its last write done, which
    // may be after the client has the last byte) and serve the next one.
    const idle = await waitFor('read buffers kept for the next copy', () => hq.store.reads.buffersIdle);
    assert.ok(Buffer.from(await (await request(url)).body.arrayBuffer()).equals(rel.content));
    await waitFor('the copy to end', () => hq.store.reads.readsOpen === 0);
    assert.equal(hq.store.reads.buffersIdle, idle, 'the next copy took them and gave them back: none allocated');
  });

  it('a client that goes away mid-body releases the descriptor and the buffers; the node keeps serving', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'big', { size: 8 * 1024 * 1024 });
    const url = `${hq.address.url}/v1/blobs/${rel.sha}`;
    const idleFds = openDescriptors();
    for (let i = 0; i < 20; i++) {
      const stop = new AbortController();
      const res = await request(url, { signal: stop.signal });
      for await (const _ of res.body) break; // first chunk, then the client goes away
      stop.abort();
    }
    await waitFor('every blob read to be closed', () => hq.store.reads.readsOpen === 0, 10_000);
    await waitFor('descriptors back to their idle count', () => openDescriptors() <= idleFds + 2, 10_000);
    assert.ok(Buffer.from(await (await request(url)).body.arrayBuffer()).equals(rel.content));
  });

  it('many downloads starting at once share one read budget (8 MiB) rather than each taking a share sized for the few before it', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'big', { size: 16 * 1024 * 1024 });
    const url = `${hq.address.url}/v1/blobs/${rel.sha}`;
    const n = 40;
    const stops = Array.from({ length: n }, () => new AbortController());
    // Each reads its first chunk and then stops reading: the copies stay open, buffers held.
    const readers = await Promise.all(
      stops.map(async (stop) => {
        const reader = (await request(url, { signal: stop.signal })).body[Symbol.asyncIterator]();
        await reader.next();
        return reader;
      }),
    );
    await waitFor('every copy to be under way', () => hq.store.reads.readsOpen === n);
    const held = hq.store.reads.buffersInUse;
    for (const stop of stops) stop.abort();
    await Promise.all(readers.map((r) => r.next().catch(() => undefined)));
    assert.ok(held <= 8 * 1024 * 1024 + n * 2 * 64 * 1024, `${(held / 1024 / 1024).toFixed(1)} MiB of read buffers held by ${n} downloads`);
    await waitFor('the copies to end', () => hq.store.reads.readsOpen === 0, 10_000);
    assert.equal(hq.store.reads.buffersInUse, 0);
  });

  it('a node that stops lets a large download under way finish', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'big', { size: 32 * 1024 * 1024 });
    const res = await request(`${hq.address.url}/v1/blobs/${rel.sha}`);
    const chunks: Buffer[] = [];
    const reader = res.body[Symbol.asyncIterator]();
    const first = await reader.next();
    chunks.push(first.value as Buffer);
    // Not reading on: most of the blob is still on the node's side when it is told to stop.
    await waitFor('the node to be copying the blob', () => hq.store.reads.readsOpen === 1);
    const stopped = hq.close();
    for (let r = await reader.next(); !r.done; r = await reader.next()) chunks.push(r.value as Buffer);
    await stopped;
    assert.ok(Buffer.concat(chunks).equals(rel.content), 'the whole blob arrived');
  });
});
