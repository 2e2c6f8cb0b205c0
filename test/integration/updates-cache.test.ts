import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/env.js';
import { converged, metric, release } from '../helpers/replication.js';

interface Answer {
  status: number;
  etag: string | undefined;
  cacheControl: string | undefined;
  body: { catalogSeq: number; updates: { id: string; state: string; files: { url: string | null }[] }[] } | undefined;
}

async function updates(url: string, ifNoneMatch?: string): Promise<Answer> {
  const res = await request(`${url}/v1/updates?platform=linux-x64`, { headers: ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {} });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    etag: res.headers.etag as string | undefined,
    cacheControl: res.headers['cache-control'] as string | undefined,
    body: text ? JSON.parse(text) : undefined,
  };
}

describe('GET /v1/updates with ETag and If-None-Match', () => {
  it('answers 304 while nothing changed, and a new answer when a package is approved or its files arrive', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const proxy = c.proxies.get('hq')!;
    const base = c.topology.nodes.get('hq')!.url;
    const url = c.topology.nodes.get('branch')!.url;
    await release(base, c.dir, 'first');
    await converged(branch, hq.catalog.seq);

    const a = await updates(url);
    assert.equal(a.status, 200);
    assert.match(a.etag ?? '', /^"[A-Za-z0-9_-]{32}"$/);
    assert.equal(a.cacheControl, 'no-cache', 'a proxy may keep it but must revalidate');
    assert.deepEqual(a.body!.updates.map((u) => [u.id, u.state]), [['first@1', 'available']]);
    for (const tag of [a.etag!, `W/${a.etag}`, `"other", ${a.etag}`]) {
      const same = await updates(url, tag);
      assert.equal(same.status, 304, `If-None-Match: ${tag}`);
      assert.equal(same.body, undefined, 'no body with 304');
      assert.equal(same.etag, a.etag);
    }

    // Approved while its file cannot reach the branch: listed "pending", without a URL.
    proxy.blobFault = 'withhold';
    const second = await release(base, c.dir, 'second');
    await waitFor('the branch to verify the catalog', () => branch.catalog.seq === hq.catalog.seq);
    const b = await updates(url, a.etag);
    assert.equal(b.status, 200, 'the approval changed the answer');
    assert.notEqual(b.etag, a.etag);
    const pending = b.body!.updates.find((u) => u.id === 'second@1')!;
    assert.deepEqual([pending.state, pending.files[0]!.url], ['pending', null]);
    assert.equal((await updates(url, b.etag)).status, 304, 'still pending: unchanged');

    // The file arrives: the same question gets a new answer, "available" with its URL.
    proxy.blobFault = 'none';
    await waitFor('the branch to store the file', () => branch.store.has(second.sha), 60_000);
    const d = await updates(url, b.etag);
    assert.equal(d.status, 200, 'the arrival changed the answer');
    assert.notEqual(d.etag, b.etag);
    assert.equal(d.body!.updates.find((u) => u.id === 'second@1')!.state, 'available');
  });

  it('the agent sends the ETag it saved and uses its saved list on 304', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    await release(c.topology.nodes.get('hq')!.url, c.dir, 'tool');
    await converged(branch, hq.catalog.seq);
    const url = c.topology.nodes.get('branch')!.url;
    const pass = async () => {
      const r = await runCli(['agent', '--server', url, '--client-id', 'e1', '--cache', path.join(c.dir, 'agent'), '--exec', 'true {file}', '--json', '-t', c.file], { env: { SLUICE_ENDPOINT_TOKEN: ENDPOINT_TOKEN } });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { updatesUnchanged: boolean; installed: { id: string }[] };
    };
    const first = await pass();
    assert.deepEqual([first.updatesUnchanged, first.installed.map((i) => i.id)], [false, ['tool@1']]);
    const second = await pass();
    assert.deepEqual([second.updatesUnchanged, second.installed], [true, []], 'nothing changed: 304, nothing reinstalled');
  });

  it('anonymous callers cannot grow the cache: values the catalog does not name share one answer', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    for (let i = 0; i < 5; i++) await release(base, c.dir, `tool${i}`, { size: 1024, meta: { platform: 'linux-x64' } });
    const ask = async (q: string) => {
      const res = await request(`${base}/v1/updates?${q}`);
      assert.equal(res.statusCode, 200);
      return (await res.body.json()) as { updates: { id: string }[] };
    };
    const one = await ask('platform=linux-x64');
    await ask('platform=linux-x64&language=en&ring=pilot');
    const known = await metric(hq, 'sluice_updates_cache_bytes');
    assert.ok(known > 0);
    for (let i = 0; i < 300; i++) assert.equal((await ask(`platform=made-up-${i}&language=xx-${i}&ring=r${i}`)).updates.length, 0);
    const after = await metric(hq, 'sluice_updates_cache_bytes');
    assert.ok(after <= known * 2, `300 made-up questions grew the cache from ${known} to ${after} bytes`);
    assert.equal((await ask('platform=linux-x64')).updates.length, one.updates.length);
  });
});
