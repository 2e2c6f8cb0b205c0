import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { REFUSALS_WRITTEN_PER_CALLER } from '../../src/audit/refused-acts.js';
import { openMetaDb, sublevels } from '../../src/store/meta-db.js';
import { runCli } from '../helpers/cli.js';
import { ADMIN_TOKEN, PEER_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { metric } from '../helpers/replication.js';

type Entry = { seq: number; at: string; who: string; role: string | null; via: string | null; source: string; act: string; target: string | null; outcome: string; node?: string };

const call = async (url: string, token: string, method: 'GET' | 'POST' = 'GET', body?: unknown) => {
  const res = await request(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.statusCode, json: (await res.body.json()) as any };
};

const entry = (seq: number, fields: Partial<Entry> = {}): Entry => ({ seq, at: new Date().toISOString(), who: 'someone', role: 'admin', via: 'token', source: '127.0.0.1', act: 'approve', target: 'x@1 for broad', outcome: 'ok', ...fields });
let epoch = 0;
const whole = (node: string, entries: Record<string, { parent: string | null; value: unknown }>) => ({ node, epoch: `forged-${++epoch}`, seq: 1, base: null, entries, removed: [], stale: [] });

/** What reads like a line of head office's trail once a terminal has acted on the codes before it. */
const FORGED_WHO = `x\r\x1b[2K\x1b[1A\x1b[2Khq  7  2026-01-01T00:00:00.000Z  tester (admin)  from 127.0.0.1  approve evil@6.6.6 for broad  ok\n`;
const TERMINAL_CODES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('the audit trail of the tree cannot be forged, reordered or read beyond scope', () => {
  it('a hub\'s credential cannot date entries in the future, smuggle control characters, or file entries under head office or a sibling; head office\'s own entries stay in view; an auditor of one site reads that site only', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'leaf', upstream: 'hub' }, { name: 'sib', upstream: 'hq' }]);
    const tokens = { hub: 'hub-token-0123456789abcdef', sib: 'sib-token-0123456789abcdef' };
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, childTokens: `hub=${tokens.hub},sib=${tokens.sib}` });
    const base = c.topology.nodes.get('hq')!.url;
    const push = async (token: string, body: unknown) => {
      const res = await request(`${base}/v1/audit/rollup`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
      return { status: res.statusCode, json: (await res.body.json()) as { ok?: boolean; error?: { code: string; message: string } } };
    };

    // Head office's own acts: three tokens made by its admin.
    const auditorOfHub = (await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'aud-hub', role: 'auditor', sites: ['hub'] })).json.token as string;
    const auditorOfLeaf = (await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'aud-leaf', role: 'auditor', sites: ['leaf'] })).json.token as string;
    assert.equal((await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'pat', role: 'publisher' })).status, 201);

    // 199 entries dated in year 9999: accepted, but dated no later than their arrival.
    const future = (n: number) => Array.from({ length: n }, (_, i) => entry(i + 1, { at: '9999-12-31T23:59:59.999Z', who: 'mallory' }));
    const pushedAt = Date.now();
    const dated = await push(tokens.hub, whole('hub', { hub: { parent: null, value: { entries: future(100) } }, leaf: { parent: 'hub', value: { entries: future(99) } } }));
    assert.equal(dated.status, 200, JSON.stringify(dated.json));
    const view = (await call(`${base}/v1/audit?tree=1`, ADMIN_TOKEN)).json.entries as Entry[];
    assert.ok(view.every((e) => Date.parse(e.at) <= Date.now()), `an entry dated in the future: ${view.find((e) => Date.parse(e.at) > Date.now())?.at}`);
    assert.ok(view.filter((e) => e.node === 'hub').every((e) => Date.parse(e.at) >= pushedAt - 1000), 'clamped to the time of arrival');
    const own = view.filter((e) => e.node === 'hq' && e.who === 'tester' && e.act === 'tokens');
    assert.deepEqual(own.map((e) => e.target), ['aud-hub (auditor)', 'aud-leaf (auditor)', 'pat (publisher)'], 'head office\'s own acts are still in the newest 100 of the tree');
    assert.ok(view.some((e) => e.node === 'leaf') && view.some((e) => e.node === 'hub'), 'the hub\'s entries are shown too, each under its node');

    // Control characters in any text field: refused whole, nothing stored.
    const before = await metric(hq, 'sluice_pushes_refused_total{reason="invalid_entry"}');
    for (const forged of [{ who: FORGED_WHO }, { target: 'evil@6.6.6\u202e for broad' }, { act: 'approve\u009b2K' }, { at: 'tomorrow' }, { at: '2026-13-45T99:99:99Z' }]) {
      const r = await push(tokens.hub, whole('hub', { hub: { parent: null, value: { entries: [entry(1000, forged)] } } }));
      assert.equal(r.status, 400, `${JSON.stringify(forged)}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error?.code, 'PUSH_INVALID');
    }
    assert.equal(await metric(hq, 'sluice_pushes_refused_total{reason="invalid_entry"}'), before + 5);

    // Entries under head office's name or a sibling's, or the hub speaking as the sibling: refused.
    const realLooking = { entries: [entry(7, { who: 'tester', target: 'evil@6.6.6 for broad' })] };
    for (const [what, body] of [
      ['head office', whole('hub', { hub: { parent: null, value: realLooking }, hq: { parent: null, value: realLooking } })],
      ['a sibling', whole('hub', { hub: { parent: null, value: realLooking }, sib: { parent: 'hq', value: realLooking } })],
      ['as the sibling', whole('sib', { sib: { parent: null, value: realLooking } })],
    ] as const) {
      const r = await push(tokens.hub, body);
      assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.json)}`);
    }

    const after = (await call(`${base}/v1/audit?tree=1&limit=1000`, ADMIN_TOKEN)).json.entries as Entry[];
    assert.ok(!after.some((e) => e.target?.includes('evil')), 'no forged entry was stored');
    assert.deepEqual([...new Set(after.map((e) => e.node))].sort(), ['hq', 'hub', 'leaf']);
    assert.ok(after.filter((e) => e.node === 'hq').every((e) => e.who === 'tester'));

    // The command line shows head office's acts next to the hub's.
    const cli = await runCli(['audit', '--tree', '--server', base], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^hq {2}\d+ {2}\S+ {2}tester \(admin\) {2}from 127\.0\.0\.1 {2}tokens pat \(publisher\) {2}ok$/m);

    // An auditor of the hub reads the hub's entries only, like its reports; not head office's own trail.
    const hubView = await call(`${base}/v1/audit?tree=1&limit=1000`, auditorOfHub);
    assert.equal(hubView.status, 200);
    assert.ok((hubView.json.entries as Entry[]).length > 0);
    assert.deepEqual([...new Set((hubView.json.entries as Entry[]).map((e) => e.node))], ['hub']);
    const leafView = await call(`${base}/v1/audit?tree=1&limit=1000`, auditorOfLeaf);
    assert.deepEqual([...new Set((leafView.json.entries as Entry[]).map((e) => e.node))], ['leaf']);
    const own2 = await call(`${base}/v1/audit`, auditorOfHub);
    assert.equal(own2.status, 403);
    assert.equal(own2.json.error.code, 'FORBIDDEN_ROLE');
    const cliAsAuditor = await runCli(['audit', '--tree', '--limit', '1000', '--server', base], { env: { SLUICE_TOKEN: auditorOfHub } });
    assert.equal(cliAsAuditor.code, 0, cliAsAuditor.stderr);
    assert.ok(cliAsAuditor.stdout.split('\n').filter(Boolean).every((l) => l.startsWith('hub  ')), cliAsAuditor.stdout.slice(0, 500));
  });

  it('the tree-wide peer token proves no node: audit entries pushed with it are refused (403), counted, and not stored', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'sib', upstream: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const res = await request(`${base}/v1/audit/rollup`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PEER_TOKEN}` }, body: JSON.stringify(whole('sib', { sib: { parent: null, value: { entries: [entry(1, { who: 'tester', target: 'evil@6.6.6 for broad' })] } } })) });
    const body = (await res.body.json()) as { error?: { code: string; message: string } };
    assert.equal(res.statusCode, 403, JSON.stringify(body));
    assert.match(body.error!.message, /SLUICE_PEER_TOKENS/);
    assert.equal(await metric(hq, 'sluice_pushes_refused_total{reason="unproven_node"}'), 1);
    assert.deepEqual((await call(`${base}/v1/audit?tree=1`, ADMIN_TOKEN)).json.entries, []);
  });

  it('entries stored with control characters (by earlier versions) are printed escaped by the command line, in every view', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const spec = c.topology.nodes.get('hq')!;
    // The trail as an earlier version left it: a name holding CR, LF, escape codes, an 8-bit
    // CSI and a right-to-left override, written raw.
    const db = await openMetaDb(spec.dataDir);
    await sublevels(db).audit.put('000000000000001', entry(1, { who: FORGED_WHO, target: 'evil@6.6.6\u202e\u009b2K for broad', outcome: 'FORBIDDEN_ROLE' }));
    await db.close();
    await startNode(c.topology, 'hq', c.secrets);
    const env = { SLUICE_TOKEN: ADMIN_TOKEN };
    for (const args of [['audit'], ['audit', '--tree'], ['audit', '--json'], ['audit', '--tree', '--json']]) {
      const r = await runCli([...args, '--server', spec.url], { env });
      assert.equal(r.code, 0, r.stderr);
      const json = args.includes('--json');
      const lines = json ? r.stdout : r.stdout.replace(/\n$/, '');
      assert.ok(!TERMINAL_CODES.test(lines.replace(/\n/g, '')), `${args.join(' ')} printed a raw control character: ${JSON.stringify(r.stdout)}`);
      if (!json) assert.equal(r.stdout.trim().split('\n').length, 1, `one entry, one line: ${JSON.stringify(r.stdout)}`);
      assert.match(r.stdout, /\\u001b\[2K/);
      if (json) assert.equal((JSON.parse(r.stdout) as { entries: Entry[] }).entries.length, 1);
    }
  });
});

describe('refused acts cannot flood the audit trail', () => {
  it('a token refused 300 times leaves a few entries and one count; the acts done before and after still climb to head office', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const branchToken = 'branch-token-0123456789abcdef';
    await startNode(c.topology, 'hq', { ...c.secrets, childTokens: `branch=${branchToken}` });
    let branch = await startNode(c.topology, 'branch', { ...c.secrets, peerToken: branchToken });
    const base = c.topology.nodes.get('hq')!.url;
    const branchBase = c.topology.nodes.get('branch')!.url;
    const ole = (await call(`${branchBase}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'ole', role: 'operator', nodes: ['branch'] })).json.token as string;
    const aud = (await call(`${branchBase}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'aud', role: 'auditor', sites: ['branch'] })).json.token as string;
    assert.equal((await call(`${branchBase}/v1/verify`, ole, 'POST', {})).status, 200);
    const lastBefore = (await call(`${branchBase}/v1/audit?limit=1000`, ADMIN_TOKEN)).json.last as number;

    const HAMMER = 300;
    for (let i = 0; i < HAMMER; i++) assert.equal((await call(`${branchBase}/v1/verify`, aud, 'POST', {})).status, 403);
    const written = ((await call(`${branchBase}/v1/audit?limit=1000&after=${lastBefore}`, ADMIN_TOKEN)).json.entries as Entry[]).filter((e) => e.who === 'aud');
    assert.equal(written.length, REFUSALS_WRITTEN_PER_CALLER, `${written.length} entries for ${HAMMER} refusals`);
    assert.ok(written.every((e) => e.act === 'verify' && e.outcome === 'FORBIDDEN_ROLE'));

    assert.equal((await call(`${branchBase}/v1/verify`, ole, 'POST', {})).status, 200);
    await waitFor('both of ole\'s verifies in head office\'s tree view', async () => ((await call(`${base}/v1/audit?tree=1&limit=1000`, ADMIN_TOKEN)).json.entries as Entry[]).filter((e) => e.node === 'branch' && e.who === 'ole' && e.act === 'verify' && e.outcome === 'ok').length === 2, 20_000);
    const tree = (await call(`${base}/v1/audit?tree=1&limit=1000`, ADMIN_TOKEN)).json.entries as Entry[];
    assert.ok(tree.some((e) => e.node === 'branch' && e.who === 'tester' && e.target === 'ole (operator)'), 'the branch\'s older allowed acts are still there');

    // The rest is counted; the count is written when the minute ends, or when the node stops.
    await branch.close();
    branch = await startNode(c.topology, 'branch', { ...c.secrets, peerToken: branchToken });
    const trail = ((await call(`${branchBase}/v1/audit?limit=1000&after=${lastBefore}`, ADMIN_TOKEN)).json.entries as Entry[]).filter((e) => e.who === 'aud');
    assert.equal(trail.length, REFUSALS_WRITTEN_PER_CALLER + 1);
    const summary = trail.at(-1)!;
    assert.equal(summary.act, 'verify');
    assert.equal(summary.outcome, 'FORBIDDEN_ROLE');
    assert.match(summary.target ?? '', new RegExp(`^${HAMMER - REFUSALS_WRITTEN_PER_CALLER} more refusals by aud within 60 s of \\S+: verify FORBIDDEN_ROLE ×${HAMMER - REFUSALS_WRITTEN_PER_CALLER}$`));
  });
});
