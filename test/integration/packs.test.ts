import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readdirSync, readFileSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import { BLOB_BATCH_TYPE, decodeFrames } from '../../src/protocol/blob-batch.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { exited, spawnCli } from '../helpers/cli.js';
import { onTeardown, tempDir, waitFor } from '../helpers/env.js';
import { adminPost, publish, writeFile } from '../helpers/publish.js';
import { converged, getJson } from '../helpers/replication.js';
import { sha256 } from '../helpers/hash.js';

const exec = promisify(execFile);

/** Publishes `count` small files as one package and approves it. */
async function releaseSmall(base: string, dir: string, name: string, count: number, size = 16 * 1024) {
  const contents = Array.from({ length: count }, () => randomBytes(size));
  const files = contents.map((c, i) => writeFile(dir, `${name}-${i}.bin`, c));
  const res = await publish(base, { name, version: '1' }, files);
  assert.equal(res.status, 201, JSON.stringify(res.json));
  assert.equal((await adminPost(base, `/v1/packages/${name}@1/approve`, { ring: 'all' })).status, 200);
  return contents;
}

async function stored(node: SluiceNode, content: Buffer): Promise<boolean> {
  const sha = sha256(content);
  if (!node.store.has(sha)) return false;
  const chunks: Buffer[] = [];
  for await (const c of node.store.read(sha)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).equals(content);
}

const packFiles = (dataDir: string) => (existsSync(path.join(dataDir, 'packs')) ? readdirSync(path.join(dataDir, 'packs')) : []);

describe('small blobs live in pack files', () => {
  it('300 blobs cross two hops into packs; served whole, by range and to curl; verify finds a flipped byte and the blob comes back', async () => {
    const c = await makeCluster();
    const base = c.topology.nodes.get('hq')!.url;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const contents = await releaseSmall(base, c.dir, 'many', 300);
    await converged(branch, hq.catalog.seq, 60_000);
    for (const node of [hq, hub, branch]) {
      for (const content of contents) assert.ok(await stored(node, content), `${node.spec.name} holds every blob byte-exact`);
      assert.ok(contents.every((x) => node.store.isPacked(sha256(x))), `${node.spec.name} keeps them in packs`);
      assert.equal(readdirSync(path.join(node.spec.dataDir, 'blobs')).length, 0, `${node.spec.name}: no file per small blob`);
    }
    assert.ok(packFiles(branch.spec.dataDir).length >= 1);
    const victim = contents[7]!;
    const url = `${branch.address.url}/v1/blobs/${sha256(victim)}`;
    const ranged = await request(url, { headers: { range: 'bytes=100-199' } });
    assert.equal(ranged.statusCode, 206);
    assert.ok(Buffer.from(await ranged.body.arrayBuffer()).equals(victim.subarray(100, 200)));
    const out = path.join(tempDir(), 'curl.bin');
    await exec('curl', ['-fsS', '-o', out, url]);
    assert.ok(readFileSync(out).equals(victim));

    // Flip one byte of the victim inside its pack (on disk, behind the node's back).
    const meta = branch.store.packLocation(sha256(victim))!;
    const fd = openSync(branch.store.packs.pathOf(meta.pack), 'r+');
    writeSync(fd, Buffer.from([victim[10]! ^ 0xff]), 0, 1, meta.offset + 10);
    closeSync(fd);
    const report = await adminPost(branch.address.url, '/v1/verify', {});
    assert.equal(report.status, 200);
    assert.deepEqual((report.json as { quarantined: string[] }).quarantined, [sha256(victim)]);
    await waitFor('the quarantined blob to be fetched again', () => stored(branch, victim));
    const again = await adminPost(branch.address.url, '/v1/verify', {});
    assert.deepEqual((again.json as { quarantined: string[] }).quarantined, []);
  });

  it('a pack whose blobs are all unwanted is deleted', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], 'policy: { grace: 0s }');
    const base = c.topology.nodes.get('hq')!.url;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const contents = await releaseSmall(base, c.dir, 'gone', 50);
    await converged(branch, hq.catalog.seq);
    const packs = packFiles(branch.spec.dataDir);
    assert.ok(packs.length >= 1);
    assert.equal((await adminPost(base, '/v1/packages/gone@1/decline', {})).status, 200);
    await waitFor('the blobs to be removed', () => contents.every((x) => !branch.store.has(sha256(x))));
    // The pack being filled stays open for the next blobs; a restart starts a new one, and the empty old one goes.
    await branch.close();
    const again = await startNode(c.topology, 'branch', c.secrets);
    await waitFor('the emptied pack to be deleted', () => packs.every((p) => !packFiles(again.spec.dataDir).includes(p)));
  });
});

describe('pack files across a SIGKILL', () => {
  it('a branch killed while committing small blobs restarts with every recorded blob intact and converges', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const base = c.topology.nodes.get('hq')!.url;
    await startNode(c.topology, 'hq', c.secrets);
    const spec = c.topology.nodes.get('branch')!;
    const serve = () => {
      const child = spawnCli(['serve', '--node', 'branch', '-t', c.file], { env: c.env });
      onTeardown(() => child.kill('SIGKILL'));
      return child;
    };
    let branch = serve();
    await waitFor('branch ready', () => getJson(`${spec.url}/readyz`).then(() => true, () => false));
    const contents = [...(await releaseSmall(base, c.dir, 'burst-a', 750, 8 * 1024)), ...(await releaseSmall(base, c.dir, 'burst-b', 750, 8 * 1024))];
    await waitFor('some blobs stored', async () => ((await getJson(`${spec.url}/v1/status`)).store.blobs as number) >= 100, 30_000);
    branch.kill('SIGKILL');
    await exited(branch);
    branch = serve();
    await waitFor('all blobs after the restart', async () => (await getJson(`${spec.url}/v1/status`).catch(() => undefined))?.store?.blobs === contents.length, 60_000);
    const res = await request(`${spec.url}/v1/verify`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{}' });
    const report = (await res.body.json()) as { checked: number; quarantined: string[]; missing: string[] };
    assert.equal(report.checked, contents.length);
    assert.deepEqual(report.quarantined, []);
    assert.deepEqual(report.missing, []);
    for (const x of contents.slice(0, 50)) {
      const r = await request(`${spec.url}/v1/blobs/${sha256(x)}`);
      assert.ok(Buffer.from(await r.body.arrayBuffer()).equals(x));
    }
    branch.kill('SIGTERM');
    assert.equal((await exited(branch)).code, 0);
  });
});

describe('many small blobs in one request (POST /v1/blobs/batch)', () => {
  it('frames held blobs with their bytes and others as not held, in the order asked; refuses a bad body', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const base = c.topology.nodes.get('hq')!.url;
    await startNode(c.topology, 'hq', c.secrets);
    const [a, b] = await releaseSmall(base, c.dir, 'framed', 2);
    const unknown = 'e'.repeat(64);
    const res = await request(`${base}/v1/blobs/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sha256: [sha256(b!), unknown, sha256(a!)] }) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], BLOB_BATCH_TYPE);
    const frames: { sha256: string; bytes: Buffer | undefined }[] = [];
    for await (const f of decodeFrames(res.body, 64 * 1024)) frames.push(f);
    assert.deepEqual(frames.map((f) => f.sha256), [sha256(b!), unknown, sha256(a!)]);
    assert.ok(frames[0]!.bytes!.equals(b!) && frames[2]!.bytes!.equals(a!));
    assert.equal(frames[1]!.bytes, undefined);
    for (const body of ['{}', JSON.stringify({ sha256: ['nope'] }), JSON.stringify({ sha256: Array.from({ length: 65 }, () => unknown) })]) {
      const bad = await request(`${base}/v1/blobs/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(bad.statusCode, 400);
      assert.equal(((await bad.body.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
    }
  });

  it('blobs lying next to each other in a pack come back byte-exact in the order asked: in pack order (read together), reversed, with gaps and an unknown id, after one was cached', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const base = c.topology.nodes.get('hq')!.url;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const contents = await releaseSmall(base, c.dir, 'neighbours', 40);
    const ids = contents.map(sha256);
    // The case under test: published together, they lie end to end in one pack (640 KiB, so
    // more than one read of at most 256 KiB).
    const locs = ids.map((id) => hq.store.packLocation(id)!);
    for (let i = 1; i < locs.length; i++) assert.deepEqual(locs[i], { pack: locs[0]!.pack, offset: locs[i - 1]!.offset + contents[i - 1]!.length }, `blob ${i} follows blob ${i - 1}`);
    const cached = await request(`${base}/v1/blobs/${ids[5]}`);
    assert.ok(Buffer.from(await cached.body.arrayBuffer()).equals(contents[5]!));
    const unknown = 'e'.repeat(64);
    const byId = new Map(ids.map((id, i) => [id, contents[i]!]));
    const orders = [ids, [...ids].reverse(), [...ids.filter((_, i) => i % 3 !== 1).slice(0, 10), unknown, ...ids.slice(30)], ids.slice(4, 9)];
    for (const asked of orders) {
      const res = await request(`${base}/v1/blobs/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sha256: asked }) });
      assert.equal(res.statusCode, 200);
      const frames: { sha256: string; bytes: Buffer | undefined }[] = [];
      for await (const f of decodeFrames(res.body, 64 * 1024)) frames.push(f);
      assert.deepEqual(frames.map((f) => f.sha256), asked);
      for (const f of frames) assert.ok(f.sha256 === unknown ? f.bytes === undefined : f.bytes?.equals(byId.get(f.sha256)!), `bytes of ${f.sha256.slice(0, 8)}`);
    }
  });

  it('a closed window holds batched blobs back (shown paused, nothing asked for) and they all arrive once it opens', async () => {
    const c = await makeCluster(
      [{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq', extra: 'region: closed' }],
      '',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  closed: { timezone: UTC, schedule: [ { rate: paused } ], sync: { every: 10m, jitter: 0s } }'],
    );
    const proxy = c.proxies.get('hq')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const contents = await releaseSmall(hq.address.url, c.dir, 'held', 150);
    type Status = { transfers: { state: string }[]; pending: { blobs: number } };
    // 150 blobs: three batches (the lane's four slots would take 256), all waiting on the window.
    await waitFor('every blob shown paused', () => {
      const st = branch.status() as Status;
      return st.pending.blobs === 150 && st.transfers.filter((t) => t.state === 'paused').length === 100;
    });
    assert.equal(proxy.count('batch:request') + proxy.blobRequests.length, 0, 'nothing is asked for while the window is closed');
    assert.ok(contents.every((x) => !branch.store.has(sha256(x))));
    const schedule = (branch as unknown as { downstream: { schedule: { budget: { setRate(r: number): void }; close(): void } } }).downstream.schedule;
    // Its minute tick would put the window's rate back: stop it, the test turns the window.
    schedule.close();
    schedule.budget.setRate(Infinity);
    await converged(branch, hq.catalog.seq, 30_000);
    await waitFor('every blob stored once the window opens', () => contents.every((x) => branch.store.has(sha256(x))), 30_000);
    for (const x of contents) assert.ok(await stored(branch, x));
    assert.ok(proxy.count('batch:request') >= 3, 'they came in batches');
  });

  it('a flipped byte in a batch is refused (HASH_MISMATCH) and fetched again; an upstream without batches is asked blob by blob', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    proxy.blobFault = 'flip';
    const first = await releaseSmall(hq.address.url, c.dir, 'flipped', 20);
    await waitFor('a refused batch', () => proxy.count('blob:flip') > 0);
    assert.ok(first.every((x) => !branch.store.has(sha256(x)) || branch.store.isPacked(sha256(x))));
    proxy.blobFault = 'none';
    await converged(branch, hq.catalog.seq, 30_000);
    for (const x of first) assert.ok(await stored(branch, x), 'every blob byte-exact once the fault stops');
    assert.ok((await branch.metrics.scrape()).match(/^sluice_hash_mismatch_total (\d+)/m)![1] !== '0', 'mismatches counted');

    proxy.batchUnsupported = true;
    const second = await releaseSmall(hq.address.url, c.dir, 'older', 20);
    await converged(branch, hq.catalog.seq, 30_000);
    for (const x of second) assert.ok(await stored(branch, x));
    assert.ok(proxy.count('batch:unsupported') >= 1);
    assert.ok(second.every((x) => proxy.blobRequests.some((r) => r.sha === sha256(x) && r.status === 200)), 'each fetched with a GET of its own');
  });
});
