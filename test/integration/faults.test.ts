import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import type { SluiceNode } from '../../src/daemon.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import type { BlobFault, CatalogFault, FaultProxy } from '../helpers/fault-proxy.js';
import { converged, getJson, holdsExactly, metric, release } from '../helpers/replication.js';

let hq: SluiceNode;
let hub: SluiceNode;
let branch: SluiceNode;
let proxy: FaultProxy;
let base: string;
let dir: string;

before(async () => {
  // The branch pulls from the hub through a fault-injecting proxy: the hub's url is the
  // proxy, its listen address the real port.
  const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', proxied: true }, { name: 'branch', upstream: 'hub' }]);
  dir = c.dir;
  proxy = c.proxies.get('hub')!;
  hq = await startNode(c.topology, 'hq', c.secrets);
  hub = await startNode(c.topology, 'hub', c.secrets);
  branch = await startNode(c.topology, 'branch', c.secrets);
  base = c.topology.nodes.get('hq')!.url;
  await release(base, dir, 'warmup');
  await converged(branch, hq.catalog.seq);
});

/** No partial or staging file of `sha` may be visible as a blob; only partial/ may hold it. */
function assertNotVisible(sha: string): void {
  assert.ok(!branch.store.has(sha), 'never visible while the fault lasts');
  const fan = path.join(branch.store.blobDir, sha.slice(0, 2));
  assert.ok(!readdirSync(branch.store.blobDir).includes(sha.slice(0, 2)) || !readdirSync(fan).includes(sha));
}

/** Faults are switched off after every test, even a failing one, so failures do not cascade. */
afterEach(() => {
  proxy.blobFault = 'none';
  proxy.catalogFault = 'none';
});

describe('a faulty upstream never makes a corrupt blob visible, every fault is counted, and the node converges once it stops', () => {
  const persistent: [BlobFault, string][] = [
    ['flip', 'sluice_hash_mismatch_total'],
    ['extra', 'sluice_transfer_retries_total'],
    ['stall', 'sluice_transfer_retries_total'],
  ];
  for (const [fault, counter] of persistent) {
    it(`${fault}: refused while it lasts (${counter} grows), stored byte-exact after`, async () => {
      const before = await metric(branch, counter);
      proxy.blobFault = fault;
      const rel = await release(base, dir, `fault-${fault}`, { size: 1024 * 1024 });
      await waitFor(`${fault} to be injected twice and counted`, async () => proxy.count(`blob:${fault}`) >= 2 && (await metric(branch, counter)) >= before + 2);
      assertNotVisible(rel.sha);
      const status = branch.status() as { transfers: { sha256: string; lastError: { code: string } | null }[] };
      const code = status.transfers.find((t) => t.sha256 === rel.sha)?.lastError?.code;
      assert.equal(code, { flip: 'HASH_MISMATCH', extra: 'UPSTREAM_BAD_RESPONSE', stall: 'TRANSFER_STALLED' }[fault as string]);
      proxy.blobFault = 'none';
      await waitFor(`${rel.id} to arrive once the fault stops`, () => holdsExactly(branch, rel.content));
    });
  }

  it('cut: the body ends early; the next attempt resumes with Range and the blob completes', async () => {
    const resumes = await metric(branch, 'sluice_transfer_resumes_total');
    proxy.blobFault = 'cut';
    const rel = await release(base, dir, 'fault-cut', { size: 2 * 1024 * 1024 });
    await waitFor('a cut and a resumed request', () => proxy.count('blob:cut') >= 2 && proxy.blobRequests.some((r) => r.sha === rel.sha && r.range?.startsWith('bytes=')));
    assertNotVisible(rel.sha);
    proxy.blobFault = 'none';
    await waitFor('the cut blob to complete', () => holdsExactly(branch, rel.content));
    assert.ok((await metric(branch, 'sluice_transfer_resumes_total')) > resumes);
    const ranged = proxy.blobRequests.filter((r) => r.sha === rel.sha && r.range);
    assert.ok(ranged.every((r) => r.status === 206));
  });

  for (const fault of ['ignore-range', 'wrong-range'] as const) {
    it(`${fault}: a resume answered ${fault === 'ignore-range' ? 'with 200 restarts from the body' : 'with a wrong Content-Range restarts cleanly'}, and the blob is exact`, async () => {
      proxy.blobFault = 'cut';
      const rel = await release(base, dir, `fault-${fault}`, { size: 2 * 1024 * 1024 });
      await waitFor('a partial from a cut body', () => proxy.count('blob:cut') >= 1 && proxy.blobRequests.some((r) => r.sha === rel.sha));
      proxy.blobFault = fault;
      await waitFor(`${rel.id} to arrive despite ${fault}`, () => holdsExactly(branch, rel.content));
      assert.ok(proxy.count(`blob:${fault}`) >= 1, 'the fault was exercised');
      proxy.blobFault = 'none';
    });
  }
});

describe('a hub that tampers with the catalog is rejected; the branch keeps its last verified state', () => {
  const cases: [CatalogFault, string][] = [
    ['alter', 'chain'],
    ['drop', 'chain'],
    ['reorder', 'chain'],
    ['forge-head', 'signature'],
    ['replay', 'rollback'],
  ];
  for (const [fault, reason] of cases) {
    it(`${fault}: rejected as "${reason}", counted, nothing applied; converges when the hub behaves`, async () => {
      await converged(branch, hq.catalog.seq);
      const seq = branch.catalog.seq;
      const name = `sluice_catalog_rejected_total{reason="${reason}"}`;
      const rejected = await metric(branch, name);
      proxy.catalogFault = fault;
      const a = await release(base, dir, `tamper-${fault}-a`);
      await release(base, dir, `tamper-${fault}-b`);
      await converged(hub, hq.catalog.seq);
      await waitFor(`a "${reason}" rejection`, async () => (await metric(branch, name)) > rejected);
      assert.equal(branch.catalog.seq, seq, 'no record applied');
      assert.ok(!branch.store.has(a.sha));
      assert.equal((await getJson(`${branch.address.url}/readyz`)).status, 'ready', 'still serving');
      proxy.catalogFault = 'none';
      await converged(branch, hq.catalog.seq);
      assert.ok(holdsExactly(branch, a.content));
    });
  }
});
