import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { converged, holdsExactly, metric, release } from '../helpers/replication.js';

describe('policy.retainSuperseded on the primary', () => {
  it('deletes a superseded package\'s file once the period has passed since its successor\'s approval; it is not reported lost, and the tree carries on', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], 'policy: { retainSuperseded: 2s }');
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const dir = tempDir();
    const v1 = await release(hq.address.url, dir, 'app', { version: '1', size: 100_000 });
    const v2 = await release(hq.address.url, dir, 'app', { version: '2', size: 120_000, meta: { supersedes: 'app@1' } });
    // The index forgets the file before its removal settles and the counter moves; wait for both.
    await waitFor('the primary to delete app@1\'s file and count it', async () => !hq.store.has(v1.sha) && await metric(hq, 'sluice_blobs_retired_total') === 1, 15_000);
    assert.ok(holdsExactly(hq, v2.content), 'the current version stays');
    assert.deepEqual(hq.status().lost, [], 'a retired file is not a lost one');
    assert.equal(await metric(hq, 'sluice_blobs_retired_total'), 1);
    await converged(branch, hq.catalog.seq);
    assert.ok(holdsExactly(branch, v2.content));
  });
});
