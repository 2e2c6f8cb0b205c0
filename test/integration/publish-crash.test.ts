import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { ADMIN_TOKEN, makeCluster } from '../helpers/cluster.js';
import { exited, spawnCli } from '../helpers/cli.js';
import { onTeardown, waitFor } from '../helpers/env.js';
import { getJson } from '../helpers/replication.js';

const MiB = 1024 * 1024;

/**
 * A multipart publish whose body stops after `sendBytes` of the last file and never ends:
 * the server is then killed (or the client aborts) while it holds a partial upload.
 */
function stalledUpload(url: string, files: number, sendBytes: number, signal?: AbortSignal) {
  const boundary = 'crashboundary';
  async function* body() {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="meta"\r\n\r\n{"name":"big","version":"1"}\r\n`);
    for (let f = 0; f < files; f++) {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="part${f}.bin"\r\n\r\n`);
      const last = f === files - 1;
      for (let sent = 0; sent < (last ? sendBytes : 2 * MiB); sent += MiB) yield randomBytes(MiB);
      if (!last) yield Buffer.from('\r\n');
    }
    await new Promise(() => {}); // never finishes: the upload is cut by the crash
  }
  return request(`${url}/v1/packages`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${ADMIN_TOKEN}` },
    body: Readable.from(body()),
    signal,
  }).catch((err: Error) => err);
}

const stagedBytes = (dataDir: string) => readdirSync(path.join(dataDir, 'tmp')).reduce((n, f) => n + statSync(path.join(dataDir, 'tmp', f)).size, 0);
const blobFiles = (dataDir: string) => readdirSync(path.join(dataDir, 'blobs')).flatMap((d) => readdirSync(path.join(dataDir, 'blobs', d)));

async function serve(c: Awaited<ReturnType<typeof makeCluster>>) {
  const child = spawnCli(['serve', '--node', 'hq', '-t', c.file], { env: c.env });
  onTeardown(() => child.kill('SIGKILL'));
  const url = c.topology.nodes.get('hq')!.url;
  await waitFor('hq ready', async () => {
    if (child.exitCode !== null) throw new Error(child.output());
    return (await request(`${url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200;
  });
  return child;
}

describe('a publish interrupted by SIGKILL leaves no visible blob and no LevelDB record', () => {
  for (const files of [1, 3]) {
    it(`${files} file(s): the primary is killed while the ${files === 1 ? 'only' : 'last'} file is arriving`, async () => {
      const c = await makeCluster([{ name: 'hq' }]);
      const dataDir = c.topology.nodes.get('hq')!.dataDir;
      const url = c.topology.nodes.get('hq')!.url;
      const first = await serve(c);
      const upload = stalledUpload(url, files, 4 * MiB);
      // Earlier files of the package are fully staged; the last one is partly written.
      await waitFor('the upload to reach the staging area', () => stagedBytes(dataDir) >= (files - 1) * 2 * MiB + MiB);
      first.kill('SIGKILL');
      assert.equal((await exited(first)).signal, 'SIGKILL');
      await upload;

      const second = await serve(c);
      const packages = await getJson(`${url}/v1/packages`);
      assert.deepEqual(packages.packages, []);
      assert.equal(packages.seq, 0);
      const catalog = await getJson(`${url}/v1/catalog`);
      assert.deepEqual(catalog.records, []);
      const metrics = await (await request(`${url}/metrics`)).body.text();
      assert.match(metrics, /^sluice_store_blobs 0$/m);
      assert.deepEqual(blobFiles(dataDir), [], 'no blob file is visible');
      assert.deepEqual(readdirSync(path.join(dataDir, 'tmp')), [], 'the staging files of the crashed upload are gone');
      second.kill('SIGTERM');
      assert.equal((await exited(second)).code, 0);
    });
  }

  it('a client that disappears mid-upload leaves nothing behind and the node keeps serving', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const dataDir = c.topology.nodes.get('hq')!.dataDir;
    const url = c.topology.nodes.get('hq')!.url;
    const child = await serve(c);
    const abort = new AbortController();
    const upload = stalledUpload(url, 1, 3 * MiB, abort.signal);
    await waitFor('the upload to reach the staging area', () => stagedBytes(dataDir) >= MiB);
    abort.abort();
    await upload;
    await waitFor('the staging file to be removed', () => readdirSync(path.join(dataDir, 'tmp')).length === 0);
    assert.deepEqual((await getJson(`${url}/v1/packages`)).packages, []);
    assert.deepEqual(blobFiles(dataDir), []);
    assert.equal((await getJson(`${url}/healthz`)).status, 'ok');
    child.kill('SIGTERM');
    assert.equal((await exited(child)).code, 0);
  });
});
