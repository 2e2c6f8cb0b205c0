import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { before, describe, it } from 'node:test';
import { request } from 'undici';
import { verifyHeadSignature } from '../../src/catalog/head.js';
import { GENESIS_HASH, hashRecord, type CatalogRecord } from '../../src/catalog/records.js';
import type { SluiceNode } from '../../src/daemon.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { adminPost, publish, writeFile } from '../helpers/publish.js';

let hq: SluiceNode;
let hub: SluiceNode;
let base: string;
let hubBase: string;
let dir: string;
let pubKeyPath: string;

before(async () => {
  const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', extra: 'ring: pilot' }], 'rings: [pilot, broad]');
  dir = c.dir;
  pubKeyPath = c.topology.trust.catalogKeyPath;
  hq = await startNode(c.topology, 'hq', c.secrets);
  hub = await startNode(c.topology, 'hub', c.secrets);
  base = c.topology.nodes.get('hq')!.url;
  hubBase = c.topology.nodes.get('hub')!.url;
});

const getJson = async (url: string) => {
  const res = await request(url);
  return { status: res.statusCode, json: (await res.body.json()) as any };
};

describe('admin calls: nothing unauthenticated changes state', () => {
  it('publish without a token → 401, with a wrong one → 403; no blob, no record, no staging file left', async () => {
    const f = writeFile(dir, 'secret.bin', randomBytes(50_000));
    const none = await publish(base, { name: 'x', version: '1' }, [f], null);
    assert.equal(none.status, 401);
    assert.equal(none.json.error.code, 'UNAUTHORIZED');
    const wrong = await publish(base, { name: 'x', version: '1' }, [f], 'not-the-token-at-all-nope');
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.error.code, 'FORBIDDEN');
    assert.equal(hq.catalog.seq, 0);
    assert.equal(hq.store.stats().blobs, 0);
    assert.deepEqual(readdirSync(hq.store.tmpDir), []);
  });

  it('approve and decline without a valid token are refused', async () => {
    assert.equal((await adminPost(base, '/v1/packages/x@1/approve', {}, null)).status, 401);
    assert.equal((await adminPost(base, '/v1/packages/x@1/decline', {}, 'wrong-token-wrong-token')).status, 403);
  });
});

describe('publish, approve, decline', () => {
  const content = randomBytes(200_000);

  it('publish streams the files, records who and when, and answers 201 with the package', async () => {
    const res = await publish(base, { name: 'editor', version: '2.1.0', severity: 'important', platform: 'linux-x64', language: 'fr' }, [writeFile(dir, 'editor.deb', content)]);
    assert.equal(res.status, 201, JSON.stringify(res.json));
    assert.equal(res.json.id, 'editor@2.1.0');
    assert.equal(res.json.state, 'new');
    assert.equal(res.json.published.by, 'tester');
    assert.ok(Math.abs(Date.parse(res.json.published.at) - Date.now()) < 60_000);
    assert.deepEqual(res.json.files[0], { name: 'editor.deb', size: content.length, sha256: (await import('node:crypto')).createHash('sha256').update(content).digest('hex'), platform: 'linux-x64', language: 'fr' });
    assert.ok(hq.store.has(res.json.files[0].sha256));
  });

  it('publishing the same id again → 409 PACKAGE_EXISTS, and the catalog does not move', async () => {
    const seq = hq.catalog.seq;
    const res = await publish(base, { name: 'editor', version: '2.1.0' }, [writeFile(dir, 'other.deb', randomBytes(10))]);
    assert.equal(res.status, 409);
    assert.equal(res.json.error.code, 'PACKAGE_EXISTS');
    assert.equal(hq.catalog.seq, seq);
  });

  it('bad uploads are refused with a message naming the problem', async () => {
    const f = writeFile(dir, 'f.bin', randomBytes(10));
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ name: 'bad name', version: '1' }, 'INVALID_UPLOAD', /name/],
      [{ name: 'ok', version: '' }, 'INVALID_UPLOAD', /version/],
      [{ name: 'ok', version: '1', severity: 'urgent' }, 'INVALID_UPLOAD', /severity/],
      [{ name: 'ok', version: '1', colour: 'red' }, 'INVALID_UPLOAD', /colour/],
      [{ name: 'ok', version: '1', supersedes: 'ghost@1' }, 'PACKAGE_NOT_FOUND', /ghost@1/],
    ];
    for (const [meta, code, msg] of cases) {
      const res = await publish(base, meta, [f]);
      assert.equal(res.status >= 400 && res.status < 500, true, JSON.stringify(res.json));
      assert.equal(res.json.error.code, code, JSON.stringify(meta));
      assert.match(res.json.error.message, msg);
    }
    const json = await adminPost(base, '/v1/packages', { name: 'x' });
    assert.equal(json.status, 415);
    assert.equal(json.json.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.deepEqual(readdirSync(hq.store.tmpDir), [], 'refused uploads leave nothing behind');
  });

  it('approve for a ring: approved(pilot); again: 409 ALREADY_APPROVED, no new record; unknown ring and package are refused', async () => {
    const ok = await adminPost(base, '/v1/packages/editor@2.1.0/approve', { ring: 'pilot' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.state, 'approved');
    assert.deepEqual(ok.json.rings, ['pilot']);
    assert.equal(ok.json.approvals[0].by, 'tester');
    const seq = hq.catalog.seq;
    const again = await adminPost(base, '/v1/packages/editor@2.1.0/approve', { ring: 'pilot' });
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'ALREADY_APPROVED');
    assert.match(again.json.error.message, /already approved for pilot; nothing was changed/);
    assert.equal(hq.catalog.seq, seq);
    const ring = await adminPost(base, '/v1/packages/editor@2.1.0/approve', { ring: 'pilott' });
    assert.equal(ring.status, 400);
    assert.equal(ring.json.error.code, 'UNKNOWN_RING');
    assert.match(ring.json.error.message, /pilot, broad/);
    const missing = await adminPost(base, '/v1/packages/ghost@1/approve', {});
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'PACKAGE_NOT_FOUND');
    const badId = await adminPost(base, '/v1/packages/no-version/approve', {});
    assert.equal(badId.json.error.code, 'INVALID_PACKAGE_ID');
    const badBody = await adminPost(base, '/v1/packages/editor@2.1.0/approve', { ring: 5 });
    assert.equal(badBody.status, 400);
  });

  it('decline: declined, approvals cleared, recorded with who', async () => {
    const res = await adminPost(base, '/v1/packages/editor@2.1.0/decline', {});
    assert.equal(res.json.state, 'declined');
    assert.deepEqual(res.json.rings, []);
    assert.equal(res.json.declined.by, 'tester');
  });

  it('a package published with supersedes shows "superseded" once the successor is approved', async () => {
    const res = await publish(base, { name: 'editor', version: '2.2.0', supersedes: 'editor@2.1.0' }, [writeFile(dir, 'e2.deb', randomBytes(1000))]);
    assert.equal(res.status, 201);
    assert.equal(res.json.supersedes, 'editor@2.1.0');
    await adminPost(base, '/v1/packages/editor@2.1.0/approve', { ring: 'all' });
    assert.equal((await getJson(`${base}/v1/packages/editor@2.1.0`)).json.state, 'approved');
    await adminPost(base, '/v1/packages/editor@2.2.0/approve', { ring: 'all' });
    const old = (await getJson(`${base}/v1/packages/editor@2.1.0`)).json;
    assert.equal(old.state, 'superseded');
    assert.equal(old.supersededBy, 'editor@2.2.0');
  });

  it('administrative calls to a node that is not the primary → 409 NOT_PRIMARY naming the primary', async () => {
    const res = await publish(hubBase, { name: 'x', version: '1' }, [writeFile(dir, 'x.bin', randomBytes(10))]);
    assert.equal(res.status, 409);
    assert.equal(res.json.error.code, 'NOT_PRIMARY');
    assert.ok(res.json.error.message.includes(base));
    assert.equal(hub.catalog.state.get('x@1'), undefined);
    assert.deepEqual(readdirSync(hub.store.tmpDir), []);
  });
});

describe('catalog feed', () => {
  it('records form a hash chain from genesis and the head is signed by the pinned key', async () => {
    const { json } = await getJson(`${base}/v1/catalog?after=0`);
    const records = json.records as CatalogRecord[];
    assert.ok(records.length >= 5);
    let prev = GENESIS_HASH;
    records.forEach((r, i) => {
      assert.equal(r.seq, i + 1);
      assert.equal(r.prev, prev);
      assert.equal(hashRecord(r), r.hash);
      prev = r.hash;
    });
    assert.equal(json.head.seq, records.length);
    assert.equal(json.head.hash, prev);
    assert.ok(verifyHeadSignature(json.head, createPublicKey(readFileSync(pubKeyPath))));
    assert.ok(Date.parse(json.head.expires) > Date.now());
  });

  it('paging: limit and more', async () => {
    const { json } = await getJson(`${base}/v1/catalog?after=1&limit=2`);
    assert.deepEqual(json.records.map((r: CatalogRecord) => r.seq), [2, 3]);
    assert.equal(json.more, true);
  });

  it('a long-poll is held while nothing is new and answers as soon as a record lands', async () => {
    const seq = hq.catalog.seq;
    let settled = false;
    const poll = getJson(`${base}/v1/catalog?after=${seq}&wait=30`).finally(() => (settled = true));
    // Another request served after the poll arrived shows the poll is being held, not answered.
    await getJson(`${base}/healthz`);
    await getJson(`${base}/v1/packages`);
    assert.equal(settled, false);
    const res = await publish(base, { name: 'late', version: '1' }, [writeFile(dir, 'late.bin', randomBytes(100))]);
    assert.equal(res.status, 201);
    const { json } = await poll;
    assert.deepEqual(json.records.map((r: CatalogRecord) => r.seq), [seq + 1]);
    assert.equal(json.records[0].id, 'late@1');
  });

  it('a long-poll with nothing new returns an empty page once wait expires', async () => {
    const { json } = await getJson(`${base}/v1/catalog?after=${hq.catalog.seq}&wait=1`);
    assert.deepEqual(json.records, []);
  });
});

describe('a bad request never crashes the node', () => {
  it('bad query parameters, bad JSON, unknown routes and oversized headers get JSON errors', async () => {
    for (const q of ['after=abc', 'after=-1', 'wait=999', 'limit=0']) {
      const r = await getJson(`${base}/v1/catalog?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error.code, 'BAD_REQUEST');
      assert.match(r.json.error.message, /must be a whole number/);
    }
    const badJson = await request(`${base}/v1/packages/editor@2.2.0/approve`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer test-admin-token-0123456789abcdef' }, body: '{"ring":' });
    assert.equal(badJson.statusCode, 400);
    assert.equal(((await badJson.body.json()) as any).error.code, 'BAD_REQUEST');
    const nf = await getJson(`${base}/v2/nothing`);
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error.code, 'ROUTE_NOT_FOUND');
    const big = await request(`${base}/healthz`, { headers: { 'x-big': 'a'.repeat(64 * 1024) } });
    assert.equal(big.statusCode, 431);
    await big.body.dump();
    const huge = await request(`${base}/v1/packages/editor@2.2.0/approve`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer test-admin-token-0123456789abcdef' }, body: JSON.stringify({ ring: 'a'.repeat(2 * 1024 * 1024) }) });
    assert.equal(huge.statusCode, 413);
    await huge.body.dump();
  });

  it('garbage on the socket is answered or dropped, and the node keeps serving', async () => {
    const port = Number(new URL(base).port);
    for (const junk of ['\x00\x01\x02garbage\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', `GET /${'x'.repeat(100_000)} HTTP/1.1\r\n\r\n`]) {
      await new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.end(junk));
        s.on('data', () => {});
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
    }
    assert.equal((await getJson(`${base}/healthz`)).status, 200);
    assert.equal((await getJson(`${base}/readyz`)).status, 200);
  });
});
