import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { exited, spawnCli } from '../helpers/cli.js';
import { onTeardown, waitFor } from '../helpers/env.js';
import { getJson, release } from '../helpers/replication.js';

const MiB = 1024 * 1024;

/** `sluice serve --node branch` as a child process (killed at teardown). */
function serveBranch(c: { file: string; env: Record<string, string> }) {
  const child = spawnCli(['serve', '--node', 'branch', '-t', c.file], { env: c.env });
  onTeardown(() => child.kill('SIGKILL'));
  return child;
}

describe('SIGKILL of a downstream node in mid-transfer', () => {
  it('resumes after restart; the upstream sends at most 5% more than the blob across the kill', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    proxy.rateBytesPerSec = 24 * MiB; // slow enough to kill mid-transfer, fast enough for CI
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branchSpec = c.topology.nodes.get('branch')!;
    const serve = () => serveBranch(c);
    let branch = serve();
    await waitFor('branch ready', async () => (await request(`${branchSpec.url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200);

    const size = 48 * MiB;
    const rel = await release(hq.address.url, c.dir, 'big', { size });
    const partial = path.join(branchSpec.dataDir, 'partial', `${rel.sha}.part`);
    await waitFor('a quarter of the blob to reach the branch', () => existsSync(partial) && statSync(partial).size >= size / 4, 30_000);
    branch.kill('SIGKILL');
    assert.equal((await exited(branch)).signal, 'SIGKILL');
    const atKill = statSync(partial).size;
    assert.ok(atKill < size, 'killed before the end');

    branch = serve();
    await waitFor('the blob to be stored after the restart', async () => {
      const s = await getJson(`${branchSpec.url}/v1/status`).catch(() => undefined);
      return s?.store?.blobs === 1 && s.pending.blobs === 0;
    }, 60_000);
    const sent = proxy.bytesSent.get(rel.sha)!;
    const overhead = sent / size - 1;
    assert.ok(overhead <= 0.05, `upstream sent ${sent} bytes for a ${size}-byte blob (+${(overhead * 100).toFixed(2)}%)`);
    const resumed = proxy.blobRequests.filter((r) => r.sha === rel.sha && r.range);
    assert.equal(resumed.length, 1, 'exactly one resumed request');
    assert.equal(resumed[0]!.status, 206);
    assert.ok(Number(/bytes=(\d+)-/.exec(resumed[0]!.range!)![1]) >= atKill - 8 * MiB, 'resumed near where it stopped');
    const metrics = await (await request(`${branchSpec.url}/metrics`)).body.text();
    assert.match(metrics, /^sluice_transfer_resumes_total 1$/m);
    assert.ok(!existsSync(partial), 'the partial became the blob');
    process.stdout.write(`# resume overhead: ${(overhead * 100).toFixed(3)}% (${sent - size} bytes re-sent; killed at ${atKill} of ${size})\n`);
    branch.kill('SIGTERM');
    assert.equal((await exited(branch)).code, 0);
  });
});

describe('status after a SIGKILL and restart', () => {
  it('counts what partial files hold for transfers still queued: progress, pending bytes and the forecast start from it', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    proxy.rateBytesPerSec = 2 * MiB;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branchSpec = c.topology.nodes.get('branch')!;
    const serve = () => serveBranch(c);
    let branch = serve();
    await waitFor('branch ready', async () => (await request(`${branchSpec.url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200);

    const size = 12 * MiB;
    // Two moderate packages take both large-blob slots...
    const a = await release(hq.address.url, c.dir, 'bulk-a', { size });
    const b = await release(hq.address.url, c.dir, 'bulk-b', { size });
    const partialOf = (sha: string) => path.join(branchSpec.dataDir, 'partial', `${sha}.part`);
    await waitFor('both to hold 1 MiB', () => [a, b].every((r) => existsSync(partialOf(r.sha)) && statSync(partialOf(r.sha)).size >= MiB), 30_000);
    // ...then two important ones are approved: after the restart they go first, so the
    // moderate ones wait in the queue with their partial files.
    const e = await release(hq.address.url, c.dir, 'fix-e', { size, meta: { severity: 'important' } });
    const f = await release(hq.address.url, c.dir, 'fix-f', { size, meta: { severity: 'important' } });
    await waitFor('the branch to know all four', async () => (await getJson(`${branchSpec.url}/v1/status`)).transfers.length === 4);
    branch.kill('SIGKILL');
    await exited(branch);
    const held = new Map([a, b].map((r) => [r.sha, statSync(partialOf(r.sha)).size]));
    proxy.rateBytesPerSec = 64 * 1024; // the important ones take long after the restart

    branch = serve();
    const s = await waitFor('the restarted branch to list its transfers', async () => {
      const st = await getJson(`${branchSpec.url}/v1/status`).catch(() => undefined);
      return st?.transfers?.length === 4 ? st : undefined;
    }, 30_000);
    const bySha = new Map<string, { state: string; offset: number }>(s.transfers.map((t: { sha256: string }) => [t.sha256, t]));
    for (const r of [e, f]) assert.equal(bySha.get(r.sha)!.state, 'active', 'the important packages run first');
    for (const r of [a, b]) {
      const t = bySha.get(r.sha)!;
      assert.equal(t.state, 'queued');
      assert.ok(t.offset >= held.get(r.sha)!, `${r.id} shows ${t.offset} bytes while its partial holds ${held.get(r.sha)}`);
    }
    const heldTotal = [...held.values()].reduce((x, y) => x + y, 0);
    assert.ok(s.pending.bytes <= 4 * size - heldTotal, `pending ${s.pending.bytes} ignores the ${heldTotal} bytes held`);
    assert.equal(s.pending.blobs, 4);
    branch.kill('SIGTERM');
    assert.equal((await exited(branch)).code, 0);
  });
});
