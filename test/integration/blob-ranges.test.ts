import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { tempDir } from '../helpers/env.js';
import { publish, writeFile } from '../helpers/publish.js';

const exec = promisify(execFile);
const SIZE = 1024 * 1024 + 7;
const data = randomBytes(SIZE);
const sha = createHash('sha256').update(data).digest('hex');
const etag = `"${sha}"`;
let node: SluiceNode;
let base: string;
let dir: string;

before(async () => {
  const c = await makeCluster([{ name: 'hq' }]);
  dir = c.dir;
  node = await startNode(c.topology, 'hq', c.secrets);
  base = c.topology.nodes.get('hq')!.url;
  const res = await publish(base, { name: 'blob', version: '1' }, [writeFile(dir, 'blob.bin', data)]);
  assert.equal(res.status, 201);
});

async function get(headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET', id = sha) {
  const res = await request(`${base}/v1/blobs/${id}`, { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

describe('blob serving follows RFC 9110 range semantics (undici)', () => {
  it('GET without Range: 200, whole blob, strong ETag, Accept-Ranges, exact length', async () => {
    const r = await get();
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(data));
    assert.equal(r.headers.etag, etag);
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.equal(r.headers['content-length'], String(SIZE));
  });

  it('HEAD: the same headers, no body', async () => {
    const r = await get({}, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(SIZE));
    assert.equal(r.headers.etag, etag);
    assert.equal(r.body.length, 0);
  });

  const ranges: [string, number, number][] = [
    ['bytes=0-99', 0, 99],
    ['bytes=1000-', 1000, SIZE - 1],
    ['bytes=-100', SIZE - 100, SIZE - 1],
    [`bytes=${SIZE - 1}-${SIZE + 500}`, SIZE - 1, SIZE - 1],
    ['bytes=0-0', 0, 0],
    ['bytes=10-20,15-30', 10, 30],
  ];
  for (const [range, start, end] of ranges) {
    it(`Range ${range} → 206 with Content-Range bytes ${start}-${end}/${SIZE}`, async () => {
      const r = await get({ range });
      assert.equal(r.status, 206);
      assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${SIZE}`);
      assert.equal(r.headers['content-length'], String(end - start + 1));
      assert.ok(r.body.equals(data.subarray(start, end + 1)));
    });
  }

  for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 10}-${SIZE + 20}`]) {
    it(`unsatisfiable Range ${range} → 416 with Content-Range bytes */${SIZE}`, async () => {
      const r = await get({ range });
      assert.equal(r.status, 416);
      assert.equal(r.headers['content-range'], `bytes */${SIZE}`);
      assert.equal(JSON.parse(r.body.toString()).error.code, 'RANGE_NOT_SATISFIABLE');
    });
  }

  for (const range of ['bytes=abc', 'bytes=5-2', 'pages=0-5', 'bytes=0-1,100-200']) {
    it(`Range "${range}" that is malformed, of another unit or multi-part is ignored → 200 whole blob`, async () => {
      const r = await get({ range });
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(data));
    });
  }

  it('If-Range with the current ETag → 206', async () => {
    const r = await get({ range: 'bytes=5-9', 'if-range': etag });
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(data.subarray(5, 10)));
  });

  for (const ifRange of [`"${'0'.repeat(64)}"`, `W/${etag}`, 'Tue, 01 Jan 2030 00:00:00 GMT']) {
    it(`If-Range ${ifRange.slice(0, 12)}… that does not match strongly → 200 whole blob`, async () => {
      const r = await get({ range: 'bytes=5-9', 'if-range': ifRange });
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(data));
    });
  }

  it('If-None-Match with the ETag → 304, no body', async () => {
    const r = await get({ 'if-none-match': etag });
    assert.equal(r.status, 304);
    assert.equal(r.body.length, 0);
  });

  it('an unknown blob → 404 BLOB_NOT_FOUND (GET and HEAD)', async () => {
    const r = await get({}, 'GET', 'e'.repeat(64));
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body.toString()).error.code, 'BLOB_NOT_FOUND');
    assert.equal((await get({}, 'HEAD', 'e'.repeat(64))).status, 404);
  });

  for (const id of ['E'.repeat(64), 'e'.repeat(63), 'e'.repeat(65), '..%2F..%2Fetc%2Fpasswd', `${'e'.repeat(62)}zz`]) {
    it(`id "${id.slice(0, 20)}…" that is not 64 lowercase hex → 400 INVALID_BLOB_ID`, async () => {
      const r = await get({}, 'GET', id);
      assert.equal(r.status, 400);
      assert.equal(JSON.parse(r.body.toString()).error.code, 'INVALID_BLOB_ID');
    });
  }

  it('counts the bytes it served', async () => {
    const text = await node.metrics.scrape();
    const m = /sluice_transfer_bytes_total\{direction="out",peer="endpoint"\} (\d+)/.exec(text);
    assert.ok(m && Number(m[1]) >= SIZE, text);
  });
});

describe('blob serving driven by curl', () => {
  it('curl downloads the whole blob byte-exact', async () => {
    const out = path.join(dir, 'curl-full.bin');
    const { stdout } = await exec('curl', ['-sS', '-o', out, '-w', '%{http_code}', `${base}/v1/blobs/${sha}`]);
    assert.equal(stdout, '200');
    assert.ok(readFileSync(out).equals(data));
  });

  it('curl -r fetches a range (206) and an unsatisfiable one fails with 416', async () => {
    const out = path.join(dir, 'curl-range.bin');
    const ok = await exec('curl', ['-sS', '-r', '100-199', '-o', out, '-w', '%{http_code}', `${base}/v1/blobs/${sha}`]);
    assert.equal(ok.stdout, '206');
    assert.ok(readFileSync(out).equals(data.subarray(100, 200)));
    const bad = await exec('curl', ['-sS', '-r', `${SIZE + 1}-`, '-o', '/dev/null', '-w', '%{http_code}', `${base}/v1/blobs/${sha}`]);
    assert.equal(bad.stdout, '416');
  });

  it('curl -C - resumes a partial download to an identical file', async () => {
    const out = path.join(tempDir(), 'resumed.bin');
    writeFileSync(out, data.subarray(0, 300_000));
    const { stdout } = await exec('curl', ['-sS', '-C', '-', '-o', out, '-w', '%{http_code} %{size_download}', `${base}/v1/blobs/${sha}`]);
    assert.equal(stdout, `206 ${SIZE - 300_000}`, 'only the missing bytes travel');
    assert.ok(readFileSync(out).equals(data));
  });
});

describe('a small blob in memory is answered before the framework, exactly as the route answers', () => {
  it('same status, headers and bytes for GET and HEAD, first from disk then from memory; ranges and conditions still honoured; bytes counted', async () => {
    const small = randomBytes(16 * 1024);
    const smallSha = createHash('sha256').update(small).digest('hex');
    assert.equal((await publish(base, { name: 'small', version: '1' }, [writeFile(dir, 'small.bin', small)])).status, 201);
    const strip = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));
    const first = await get({}, 'GET', smallSha); // the route: reads the file, keeps it in memory
    assert.ok(node.store.cachedSmall(smallSha), 'now in memory');
    const second = await get({}, 'GET', smallSha); // the fast path
    assert.equal(second.status, 200);
    assert.deepEqual(strip(second.headers), strip(first.headers));
    assert.ok(second.body.equals(small) && first.body.equals(small));
    const head = await get({}, 'HEAD', smallSha);
    assert.deepEqual(strip(head.headers), strip(first.headers));
    assert.equal(head.body.length, 0);
    const range = await get({ range: 'bytes=0-9' }, 'GET', smallSha);
    assert.equal(range.status, 206);
    assert.ok(range.body.equals(small.subarray(0, 10)));
    assert.equal((await get({ 'if-none-match': `"${smallSha}"` }, 'GET', smallSha)).status, 304);
    const before = await node.metrics.scrape();
    const count = (text: string) => Number(/^sluice_transfer_bytes_total\{direction="out",peer="endpoint"\} (\d+)/m.exec(text)?.[1]);
    await get({}, 'GET', smallSha);
    assert.equal(count(await node.metrics.scrape()) - count(before), small.length);
  });
});
