import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, PEER_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/env.js';
import { adminPost } from '../helpers/publish.js';
import { getJson, metric, release } from '../helpers/replication.js';
import { openDescriptors } from '../helpers/process.js';


/** Opens a raw connection, writes `text`, and resolves when the server closes it. */
function rawClosed(port: number, text: string): { closed: Promise<void>; socket: import('node:net').Socket } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(text);
  socket.resume();
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

describe('resources held by clients are given back', () => {
  it('with egress caps, aborted downloads release their descriptors and read-ahead', async () => {
    const c = await makeCluster([{ name: 'hq', extra: 'egress: { rate: 1MB/s }' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'big', { size: 4 * 1024 * 1024 });
    const idleFds = openDescriptors();
    for (let i = 0; i < 20; i++) {
      const stop = new AbortController();
      const res = await request(`${hq.address.url}/v1/blobs/${rel.sha}`, { signal: stop.signal });
      for await (const _ of res.body) break; // first chunk, then the client goes away
      stop.abort();
    }
    await waitFor('every blob read to be closed', () => hq.store.reads.readsOpen === 0, 10_000);
    await waitFor('descriptors back to their idle count', () => openDescriptors() <= idleFds + 2, 10_000);
  });

  it('stalled headers and bodies are cut after the idle time; moving uploads and long-polls are not', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets, {}, { httpIdleTimeoutMs: 1000 });
    const port = hq.address.port;
    const headers = rawClosed(port, 'GET /v1/status HTTP/1.1\r\nHost: x\r\n');
    const body = rawClosed(port, `POST /v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ENDPOINT_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"rep`);
    await waitFor('the half-sent headers to be cut', () => headers.socket.closed, 10_000);
    await waitFor('the stalled body to be cut', () => body.socket.closed, 10_000);

    // An upload that keeps moving for longer than the idle time completes.
    const batch = JSON.stringify({ reports: [{ clientId: 'pc1', package: 'x@1', status: 'succeeded', at: new Date().toISOString() }] });
    async function* trickle() {
      for (let i = 0; i < batch.length; i += Math.ceil(batch.length / 6)) {
        yield Buffer.from(batch.slice(i, i + Math.ceil(batch.length / 6)));
        await new Promise((r) => setTimeout(r, 400)); // pacing the upload, not synchronising
      }
    }
    const upload = await request(`${hq.address.url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json', 'content-length': String(batch.length) }, body: Readable.from(trickle()) });
    assert.equal(upload.statusCode, 200, await upload.body.text());

    // A long-poll held three times the idle time is answered, not cut.
    const started = Date.now();
    const poll = await request(`${hq.address.url}/v1/catalog?after=${hq.catalog.seq}&wait=3`);
    assert.equal(poll.statusCode, 200);
    await poll.body.dump();
    assert.ok(Date.now() - started >= 2500, 'the poll was held for its wait');
  });

  it('status and report pushes of a 1,000-node subtree are accepted', async () => {
    // A hub with 1,000 sites below it (only hq runs: the pushes are built here).
    const sitesDefs = Array.from({ length: 1000 }, (_, i) => ({ name: `site${i}`, upstream: 'hub' }));
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, ...sitesDefs]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const transfer = { sha256: 'a'.repeat(64), packages: ['office-suite@16.0.1'], severity: 'important', size: 300e6, offset: 1e8, state: 'active', rateBytesPerSec: 1e6, attempts: 0, peer: 'hub', lastError: null };
    const leaf = (i: number) => ({ node: `site${i}`, primary: false, region: 'main', catalog: { seq: 1000, headExpires: null }, store: { blobs: 500, bytes: 5e10 }, pending: { blobs: 20, bytes: 6e9 }, transfers: Array.from({ length: 20 }, () => transfer), lastError: null, warnings: [], children: {} });
    const children = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`site${i}`, leaf(i)]));
    const statusBody = JSON.stringify({ node: 'hub', status: { ...leaf(-1), node: 'hub', children } });
    assert.ok(statusBody.length > 4 * 1024 * 1024, `a realistic push (${statusBody.length} bytes) is far above the old 1 MiB limit`);
    const push = await request(`${hq.address.url}/v1/status`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PEER_TOKEN}` }, body: statusBody });
    assert.equal(push.statusCode, 200, await push.body.text());
    const tree = (await getJson(`${hq.address.url}/v1/status`)) as { children: { hub: { children: Record<string, unknown> } } };
    assert.equal(Object.keys(tree.children.hub.children).length, 1000);

    const failures = Array.from({ length: 20 }, (_, i) => ({ clientId: `pc-${i}`, package: 'office-suite@16.0.1', error: 'exit code 1603: '.padEnd(300, 'x'), at: new Date().toISOString() }));
    const sites = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`site${i}`, { clients: 400, packages: Object.fromEntries(Array.from({ length: 50 }, (_, p) => [`pkg${p}@1`, { succeeded: 390, failed: 10 }])), failures }]));
    const rollup = await request(`${hq.address.url}/v1/reports/rollup`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PEER_TOKEN}` }, body: JSON.stringify({ node: 'hub', nodes: sites }) });
    assert.equal(rollup.statusCode, 200, await rollup.body.text());
  });
});

describe('a primary that lost a blob says so and takes it back', () => {
  it('verify forgets the missing file; status, warnings and sluice_blobs_lost name it; sluice restore puts the original back, wrong bytes are refused', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'precious', { size: 300_000 });
    unlinkSync(hq.store.pathOf(rel.sha));
    const report = await adminPost(hq.address.url, '/v1/verify', {});
    assert.deepEqual(report.json.missing, [rel.sha]);
    const status = hq.status() as { lost: { sha256: string; packages: string[] }[]; warnings: string[] };
    assert.deepEqual(status.lost, [{ sha256: rel.sha, packages: ['precious@1'] }]);
    assert.ok(status.warnings.some((w) => w.includes('sluice restore')));
    assert.equal(await metric(hq, 'sluice_blobs_lost'), 1);

    const wrong = await request(`${hq.address.url}/v1/blobs/${rel.sha}`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(300_000) });
    assert.equal(wrong.statusCode, 502);
    assert.equal(((await wrong.body.json()) as { error: { code: string } }).error.code, 'HASH_MISMATCH');
    assert.ok(!hq.store.has(rel.sha));

    const file = path.join(c.dir, 'precious-original.bin');
    writeFileSync(file, rel.content);
    const cli = await runCli(['restore', file, '-t', c.file], { env: c.env });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /restored/);
    assert.ok(hq.store.has(rel.sha));
    assert.equal(await metric(hq, 'sluice_blobs_lost'), 0);
  });
});

describe('report ordering survives bad endpoint clocks', () => {
  it('a future-dated report does not freeze the endpoint; fractional seconds order by time', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    // Reports count only catalogued packages.
    await release(hq.address.url, c.dir, 'fix', { size: 1024 });
    const post = async (reports: object[]) => {
      const res = await request(`${hq.address.url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ reports }) });
      assert.equal(res.statusCode, 200, await res.body.text());
    };
    const statusOf = async (pkg: string) => {
      const res = await request(`${hq.address.url}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = (await res.body.json()) as { sites: Record<string, { packages: Record<string, Record<string, number>> }> };
      return body.sites.hq!.packages[pkg];
    };
    await post([{ clientId: 'pc1', package: 'fix@1', status: 'failed', error: 'boom', at: '2099-01-01T00:00:00Z' }]);
    await post([{ clientId: 'pc1', package: 'fix@1', status: 'succeeded', at: new Date().toISOString() }]);
    assert.deepEqual(await statusOf('fix@1'), { succeeded: 1 });

    await post([{ clientId: 'pc2', package: 'fix@1', status: 'succeeded', at: '2026-01-01T10:00:00Z' }]);
    await post([{ clientId: 'pc2', package: 'fix@1', status: 'failed', error: 'later', at: '2026-01-01T10:00:00.5Z' }]);
    assert.deepEqual(await statusOf('fix@1'), { succeeded: 1, failed: 1 });
  });
});
