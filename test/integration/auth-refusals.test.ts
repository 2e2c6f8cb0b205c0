import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { REFUSALS_PER_WINDOW } from '../../src/auth/refusal-throttle.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { metric } from '../helpers/replication.js';

describe('wrong tokens are slowed and counted per source address', () => {
  it('past the limit an address is answered 429 with Retry-After, for admin and peer calls alike', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'leaf', upstream: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const url = hq.address.url;
    const approve = async (token: string) => {
      const res = await request(`${url}/v1/packages/none@1/approve`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"ring":"all"}' });
      return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: (await res.body.json()) as { error?: { code: string } } };
    };
    const statuses: number[] = [];
    for (let i = 0; i < REFUSALS_PER_WINDOW; i++) statuses.push((await approve(`wrong-token-${i}-0123456789abcdef`)).status);
    assert.deepEqual(new Set(statuses), new Set([403]));
    const blocked = await approve(`wrong-token-x-0123456789abcdef`);
    assert.equal(blocked.status, 429);
    assert.equal(blocked.body.error?.code, 'TOO_MANY_ATTEMPTS');
    assert.ok(Number(blocked.retryAfter) >= 1, `Retry-After: ${blocked.retryAfter}`);
    // While blocked even the right token is not looked at: guesses learn nothing.
    assert.equal((await approve(ADMIN_TOKEN)).status, 429);
    assert.ok((await metric(hq, 'sluice_auth_refusals_total{kind="admin"}')) >= REFUSALS_PER_WINDOW);

    // Peer calls share the address's count: a push with a wrong peer token is refused 429 too.
    const push = await request(`${url}/v1/status`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer not-the-peer-token-0123456789' }, body: '{}' });
    assert.equal(push.statusCode, 429);
    await push.body.dump();
  });
});
