import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { adminPost } from '../helpers/publish.js';
import { release, sha256 } from '../helpers/replication.js';

describe('partial downloads nobody wants any more', () => {
  it('a blob declined mid-transfer leaves no partial file behind, and nothing pending, without a restart', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    // A throttled link: the transfer is well under way, far from done, when the decline comes.
    c.proxies.get('hq')!.rateBytesPerSec = 512 * 1024;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets, { stallMs: 10_000 });
    const rel = await release(hq.address.url, c.dir, 'declined', { size: 16 * 1024 * 1024 });
    const partial = path.join(branch.spec.dataDir, 'partial', `${rel.sha}.part`);
    await waitFor('the branch to hold part of the blob', () => existsSync(partial) && statSync(partial).size > 256 * 1024, 30_000);
    assert.equal((await adminPost(hq.address.url, '/v1/packages/declined@1/decline', {})).status, 200);
    await waitFor('the partial file to be dropped', () => !existsSync(partial), 15_000);
    const status = branch.status();
    assert.deepEqual([status.pending.blobs, status.pending.bytes], [0, 0]);
    assert.equal(branch.store.has(rel.sha), false);
  });

  it('a partial file left behind while the node runs (held by no one, wanted by nothing) is collected', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    // Something is wanted, so the node has planned what it holds.
    const rel = await release(hq.address.url, c.dir, 'wanted', { size: 100_000 });
    await waitFor('the branch to hold the wanted blob', () => branch.store.has(rel.sha));
    const stray = path.join(branch.spec.dataDir, 'partial', `${sha256(randomBytes(32))}.part`);
    writeFileSync(stray, randomBytes(300_000));
    await waitFor('the stray partial to be collected', () => !existsSync(stray), 15_000);
  });
});
