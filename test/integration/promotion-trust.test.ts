import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, TEST_TUNING, makeCluster, startNode } from '../helpers/cluster.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { adminPost, publish, writeFile } from '../helpers/publish.js';
import { runCli } from '../helpers/cli.js';

const BROAD_TOKEN = 'broadsite-own-peer-token-0123456789abcdef';
const json = async (url: string, token = ADMIN_TOKEN) => (await (await request(url, { headers: { authorization: `Bearer ${token}` } })).body.json()) as any;

describe('a promotion gate moves only on its ring\'s own figures, and never undoes a person', () => {
  it('a node serving only broad cannot promote or hold a package of pilot\'s gate with made-up pilot figures; an approver sees totals, not sites', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'broadsite', upstream: 'hq', extra: 'ring: broad' }],
      ['rings:', '  pilot: { promote: { to: broad, after: 1s, minClients: 10, minSucceeded: 100%, maxFailed: 0 } }', '  broad: {}'].join('\n'),
    );
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, childTokens: `broadsite=${BROAD_TOKEN}` }, { ...TEST_TUNING, promoteEveryMs: 200 });
    const dir = tempDir();
    for (const n of ['1', '2']) {
      assert.equal((await publish(hq.address.url, { name: `pkg${n}`, version: '1.0' }, [writeFile(dir, `f${n}`, Buffer.from(n))])).status, 201);
      assert.equal((await adminPost(hq.address.url, `/v1/packages/pkg${n}@1.0/approve`, { ring: 'pilot' })).status, 200);
    }
    // broadsite's own credential pushes figures for its own site, under a ring it does not serve.
    const summary = {
      clients: 50,
      packages: {},
      rings: { pilot: { clients: 50, packages: { 'pkg1@1.0': { succeeded: 50 }, 'pkg2@1.0': { succeeded: 49, failed: 1 } } } },
      failures: [{ clientId: 'ghost', package: 'pkg2@1.0', error: 'forged failure', at: new Date().toISOString() }],
    };
    const push = await request(`${hq.address.url}/v1/reports/rollup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BROAD_TOKEN}` },
      body: JSON.stringify({ node: 'broadsite', epoch: 'e1', seq: 1, base: null, entries: { broadsite: { parent: null, value: summary } }, removed: [], stale: [] }),
    });
    await push.body.dump();
    // Figures of a ring the site does not serve do not count: nothing moves, round after round
    // (five rounds of 200 ms: a gate that took them would have promoted pkg1 in the first).
    await waitFor('a few gate rounds', async () => {
      const pending = (await json(`${hq.address.url}/v1/promotions`)).pending as { package: string; state: string; evidence: { clients: number } }[];
      return pending.every((v) => v.state === 'waiting' && v.evidence.clients === 0) ? pending : undefined;
    }, 5_000);
    await new Promise<void>((resolve) => setTimeout(resolve, 1_000));
    const after = (await json(`${hq.address.url}/v1/promotions`)) as { pending: { package: string; state: string; evidence: { clients: number } }[]; decided: unknown[] };
    assert.deepEqual(after.pending.map((v) => [v.package, v.state, v.evidence.clients]).sort(), [['pkg1@1.0', 'waiting', 0], ['pkg2@1.0', 'waiting', 0]]);
    assert.deepEqual(after.decided, []);
    const reports = await json(`${hq.address.url}/v1/reports`);
    assert.equal(reports.sites.broadsite?.rings, undefined, 'the primary keeps no pilot figures for a broad site');

    // An approver sees the gates of its rings with totals, without the sites' figures.
    const tok = (await adminPost(hq.address.url, '/v1/tokens', { name: 'pia', role: 'approver', rings: ['pilot'] })).json.token as string;
    const seen = await json(`${hq.address.url}/v1/promotions`, tok);
    assert.ok(seen.pending.length > 0 && seen.pending.every((v: { evidence: { sites: object } }) => Object.keys(v.evidence.sites).length === 0));
  });

  it('a package a person withdrew from the next ring stays withdrawn: the gate leaves it to a person', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'pilotsite', upstream: 'hq', extra: 'ring: pilot' }],
      ['rings:', '  pilot: { promote: { to: broad, after: 1s, minClients: 2, minSucceeded: 100%, maxFailed: 0 } }', '  broad: {}'].join('\n'),
    );
    const hq = await startNode(c.topology, 'hq', c.secrets, { ...TEST_TUNING, promoteEveryMs: 200 });
    const pilotsite = await startNode(c.topology, 'pilotsite', c.secrets, TEST_TUNING);
    assert.equal((await publish(hq.address.url, { name: 'hello', version: '1.1' }, [writeFile(tempDir(), 'f', Buffer.from('x'))])).status, 201);
    assert.equal((await adminPost(hq.address.url, '/v1/packages/hello@1.1/approve', { ring: 'pilot' })).status, 200);
    const lead = (await adminPost(hq.address.url, '/v1/tokens', { name: 'broad-lead', role: 'approver', rings: ['broad'] })).json.token as string;
    await waitFor('pilotsite holds the catalog', () => pilotsite.catalog.seq === hq.catalog.seq);
    const rep = await request(`${pilotsite.address.url}/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ENDPOINT_TOKEN}` }, body: JSON.stringify({ reports: ['a', 'b'].map((id) => ({ clientId: id, package: 'hello@1.1', status: 'succeeded', at: new Date().toISOString() })) }) });
    await rep.body.dump();
    const broad = () => hq.catalog.state.get('hello@1.1')!.approvals.get('broad');
    await waitFor('promoted to broad by the rule', () => broad()?.by === 'rule:pilot→broad', 20_000);
    assert.equal((await adminPost(hq.address.url, '/v1/packages/hello@1.1/decline', { ring: 'broad' }, lead)).status, 200);
    const seq = hq.catalog.seq;
    // Several gate rounds (five of 200 ms): nothing is appended, and the package left the gate.
    await waitFor('the gate to leave it', async () => (await json(`${hq.address.url}/v1/promotions`)).pending.length === 0, 5_000);
    await new Promise<void>((resolve) => setTimeout(resolve, 1_000));
    assert.equal(broad(), undefined, 'still withdrawn from broad');
    assert.equal(hq.catalog.seq, seq, 'no record appended by the rule');
    // A person can give it back.
    assert.equal((await adminPost(hq.address.url, '/v1/packages/hello@1.1/approve', { ring: 'broad' }, lead)).status, 200);
    assert.equal(broad()?.by, 'broad-lead');
  });

  it('an endpoint\'s failure message reaches head office\'s commands written out: no escape or carriage return acts on a terminal', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'pilotsite', upstream: 'hq', extra: 'ring: pilot' }],
      ['rings:', '  pilot: { promote: { to: broad, after: 1h, minClients: 2, minSucceeded: 100%, maxFailed: 0 } }', '  broad: {}'].join('\n'),
    );
    const hq = await startNode(c.topology, 'hq', c.secrets, { ...TEST_TUNING, promoteEveryMs: 200 });
    const site = await startNode(c.topology, 'pilotsite', c.secrets, TEST_TUNING);
    assert.equal((await publish(hq.address.url, { name: 'hello', version: '1.1' }, [writeFile(tempDir(), 'f', Buffer.from('x'))])).status, 201);
    assert.equal((await adminPost(hq.address.url, '/v1/packages/hello@1.1/approve', { ring: 'pilot' })).status, 200);
    await waitFor('the site holds the catalog', () => site.catalog.seq === hq.catalog.seq);
    const error = '\r\u001b[2K  WAITING  hello@1.1  pilot → broad: 0 of 0 pilot clients\u001b[8m\u009b31m';
    const rep = await request(`${site.address.url}/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ENDPOINT_TOKEN}` }, body: JSON.stringify({ reports: [{ clientId: 'pc1', package: 'hello@1.1', status: 'failed', error, at: new Date().toISOString() }] }) });
    await rep.body.dump();
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    await waitFor('held at head office', async () => /HELD/.test((await cli('promotions')).stdout), 20_000);
    for (const cmd of ['promotions', 'plan', 'report']) {
      const out = (await cli(cmd)).stdout;
      assert.doesNotMatch(out, /[\u001b\r\u009b]/, `sluice ${cmd} printed a raw control character`);
      assert.match(out, /\\u001b\[2K/, `sluice ${cmd} shows the message, written out`);
    }
  });
});
