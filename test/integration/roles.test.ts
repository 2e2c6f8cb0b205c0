import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { runCli } from '../helpers/cli.js';
import { ADMIN_TOKEN, TEST_TUNING, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { adminPost, publish, writeFile } from '../helpers/publish.js';

const call = async (url: string, token: string, method: 'GET' | 'POST' | 'DELETE' = 'GET', body?: unknown) => {
  const res = await request(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.statusCode, json: (await res.body.json()) as any };
};

describe('people and roles', () => {
  it('each role may do its own acts and is refused the rest (403 FORBIDDEN_ROLE, nothing changed); revoking a token stops it at once; tokens and the audit trail survive a restart', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', extra: 'ring: pilot' }], 'rings: [pilot, broad, emea-de]');
    let hq = await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const hubBase = c.topology.nodes.get('hub')!.url;
    const env = { SLUICE_TOKEN: ADMIN_TOKEN };

    // Tokens are made by an admin with the CLI: printed once on stdout, only a hash kept.
    const add = async (server: string, args: string[]) => {
      const r = await runCli(['token', 'add', ...args, '--server', server], { env });
      assert.equal(r.code, 0, r.stderr);
      const token = r.stdout.trim();
      assert.match(token, /^sluice_[A-Za-z0-9_-]{32}$/);
      assert.match(r.stderr, /shown this once/);
      return token;
    };
    const publisher = await add(base, ['pat', '--role', 'publisher']);
    const approver = await add(base, ['amy', '--role', 'approver', '--rings', 'pilot,emea-*']);
    const auditor = await add(base, ['aud', '--role', 'auditor', '--regions', 'main']);
    const hubOperator = await add(hubBase, ['ole', '--role', 'operator', '--nodes', 'hub']);
    const otherOperator = await add(hubBase, ['oli', '--role', 'operator', '--nodes', 'branch-*']);
    const bad = await runCli(['token', 'add', 'nobody', '--role', 'approver', '--server', base], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /needs its scope: --rings/);

    // Publisher: publishes; may not approve.
    const f = writeFile(c.dir, 'fix.bin', randomBytes(20_000));
    assert.equal((await publish(base, { name: 'fix', version: '1' }, [f], publisher)).status, 201);
    assert.equal((await publish(base, { name: 'fix', version: '1' }, [f], publisher)).json.error.code, 'PACKAGE_EXISTS');
    const seq = hq.catalog.seq;
    const pubApproves = await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'pilot' }, publisher);
    assert.equal(pubApproves.status, 403);
    assert.equal(pubApproves.json.error.code, 'FORBIDDEN_ROLE');
    assert.match(pubApproves.json.error.message, /pat has the role publisher, which may not approve/);

    // Approver of pilot and emea-*: approves for those, is refused broad and all, cannot publish.
    const broad = await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'broad' }, approver);
    assert.equal(broad.status, 403);
    assert.equal(broad.json.error.code, 'FORBIDDEN_ROLE');
    assert.match(broad.json.error.message, /amy \(approver for pilot, emea-\*\) may not approve for broad; nothing was changed \(an admin can give a token whose scope covers it/);
    assert.equal((await adminPost(base, '/v1/packages/fix@1/approve', {}, approver)).status, 403, 'approving for all needs a scope that covers it');
    // The command line is refused alike, with the code and what the role lacks.
    const cliBroad = await runCli(['approve', 'fix@1', '--ring', 'broad', '--server', base], { env: { SLUICE_TOKEN: approver } });
    assert.equal(cliBroad.code, 1);
    assert.match(cliBroad.stderr, /FORBIDDEN_ROLE.*may not approve for broad/);
    const cliPublish = await runCli(['approve', 'fix@1', '--ring', 'pilot', '--server', base], { env: { SLUICE_TOKEN: publisher } });
    assert.match(cliPublish.stderr, /FORBIDDEN_ROLE.*pat has the role publisher/);
    assert.equal(hq.catalog.seq, seq, 'nothing entered the catalog');
    assert.equal((await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'pilot' }, approver)).status, 200);
    assert.equal((await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'emea-de' }, approver)).status, 200);
    const approvedBy = [...hq.catalog.state.get('fix@1')!.approvals.keys()];
    assert.deepEqual(approvedBy.sort(), ['emea-de', 'pilot']);
    const f2 = writeFile(c.dir, 'other.bin', randomBytes(1000));
    assert.equal((await publish(base, { name: 'other', version: '1' }, [f2], approver)).json.error.code, 'FORBIDDEN_ROLE');
    assert.equal((await adminPost(base, '/v1/packages/fix@1/decline', {}, approver)).status, 200, 'declines what only its rings hold');

    // Operator: verifies the node of its scope, not another; may not approve.
    assert.equal((await call(`${hubBase}/v1/verify`, hubOperator, 'POST', {})).status, 200);
    const elsewhere = await call(`${hubBase}/v1/verify`, otherOperator, 'POST', {});
    assert.equal(elsewhere.json.error.code, 'FORBIDDEN_ROLE');
    assert.match(elsewhere.json.error.message, /may not verify on hub/);
    assert.equal((await call(`${base}/v1/verify`, hubOperator, 'POST', {})).json.error.code, 'FORBIDDEN', 'a token is known only to the node that made it');

    // Auditor: reads reports and the audit trail; may not publish or manage tokens.
    assert.equal((await call(`${base}/v1/reports`, auditor)).status, 200);
    assert.equal((await call(`${base}/v1/tokens`, auditor)).json.error.code, 'FORBIDDEN_ROLE');
    assert.equal((await publish(base, { name: 'aud', version: '1' }, [f2], auditor)).json.error.code, 'FORBIDDEN_ROLE');

    // Revoked: refused on the next request, without a restart.
    const revoke = await runCli(['token', 'revoke', 'amy', '--server', base], { env });
    assert.equal(revoke.code, 0, revoke.stderr);
    const after = await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'pilot' }, approver);
    assert.equal(after.status, 403);
    assert.equal(after.json.error.code, 'FORBIDDEN');
    const listed = await runCli(['token', 'list', '--json', '--server', base], { env });
    assert.deepEqual((JSON.parse(listed.stdout) as { name: string }[]).map((t) => t.name), ['aud', 'pat']);
    assert.ok(!listed.stdout.includes(publisher) && !/sha256/.test(listed.stdout), 'the list shows neither tokens nor hashes');

    // A restart keeps the tokens and the trail.
    await hq.close();
    hq = await startNode(c.topology, 'hq', c.secrets);
    assert.equal((await call(`${base}/v1/tokens`, publisher)).json.error.code, 'FORBIDDEN_ROLE', 'the publisher token still authenticates');
    const audit = await runCli(['audit', '--json', '--limit', '1000', '--server', base], { env: { SLUICE_TOKEN: auditor } });
    assert.equal(audit.code, 0, audit.stderr);
    const entries = (JSON.parse(audit.stdout) as { entries: { who: string; role: string | null; act: string; target: string | null; outcome: string; source: string }[] }).entries;
    const has = (who: string, act: string, outcome: string, target?: RegExp) => entries.some((e) => e.who === who && e.act === act && e.outcome === outcome && (!target || target.test(e.target ?? '')));
    assert.ok(has('tester', 'tokens', 'ok', /^pat \(publisher\)$/), 'token made, by the admin');
    assert.ok(has('pat', 'publish', 'ok', /^fix@1$/));
    assert.ok(has('pat', 'publish', 'PACKAGE_EXISTS', /^fix@1$/), 'a refused publish names its package');
    assert.ok(has('pat', 'approve', 'FORBIDDEN_ROLE'));
    assert.ok(has('amy', 'approve', 'FORBIDDEN_ROLE', /fix@1 for broad/));
    assert.ok(has('amy', 'approve', 'ok', /fix@1 for pilot/));
    assert.ok(has('amy', 'decline', 'ok', /^fix@1$/));
    assert.ok(has('-', 'approve', 'FORBIDDEN'), 'the revoked token, refused, names no one');
    assert.ok(has('tester', 'tokens', 'ok', /^amy$/), 'the revocation');
    assert.ok(entries.every((e) => e.source === '127.0.0.1'));
    const hubAudit = await call(`${hubBase}/v1/audit`, ADMIN_TOKEN);
    assert.ok((hubAudit.json.entries as { who: string; act: string; outcome: string }[]).some((e) => e.who === 'ole' && e.act === 'verify' && e.outcome === 'ok'));
    await waitFor('hub still serving', async () => (await request(`${hubBase}/readyz`)).statusCode === 200);
    void hub;
  });

  it('an expired token is refused with TOKEN_EXPIRED', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    await startNode(c.topology, 'hq', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const made = await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'temp', role: 'publisher', expires: '1s' });
    assert.equal(made.status, 201);
    assert.ok(Date.parse(made.json.expiresAt) - Date.now() <= 1000);
    await waitFor('the token to expire', () => Date.now() > Date.parse(made.json.expiresAt) + 10);
    const r = await call(`${base}/v1/tokens`, made.json.token);
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'TOKEN_EXPIRED');
  });
});

describe('roles in the console', () => {
  it('a session acts with its token\'s role: an approver of pilot is refused broad through the console\'s own call; compliance needs a role that reads reports and shows the sites of its scope', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'east', upstream: 'hq', extra: 'region: east' }, { name: 'west', upstream: 'hq', extra: 'region: west' }], 'rings: [pilot, broad]', [
      '  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }',
      '  east: { timezone: UTC, sync: { every: 10m, jitter: 0s } }',
      '  west: { timezone: UTC, sync: { every: 10m, jitter: 0s } }',
    ]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const made = async (body: Record<string, unknown>) => (await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', body)).json.token as string;
    const approver = await made({ name: 'amy', role: 'approver', rings: ['pilot'] });
    const auditor = await made({ name: 'aud', role: 'auditor', regions: ['east'] });
    const publisher = await made({ name: 'pat', role: 'publisher' });
    const signIn = async (token: string) => {
      const form = await request(`${base}/ui/sign-in`);
      const formBody = await form.body.text();
      const setCookie = ([] as string[]).concat(form.headers['set-cookie'] ?? []);
      const formCookie = setCookie.find((s) => s.startsWith('sluice_sign_in='))!.split(';')[0]!;
      const formToken = /name="_csrf" value="([^"]+)"/.exec(formBody)![1]!;
      const res = await request(`${base}/ui/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie }, body: new URLSearchParams({ _csrf: formToken, token, next: '/ui/packages' }).toString() });
      await res.body.dump();
      const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((s) => s.startsWith('sluice_session='))!.split(';')[0]!;
      const page = await request(`${base}/ui/packages`, { headers: { cookie } });
      const csrf = /name="csrf-token" content="([^"]+)"/.exec(await page.body.text())![1]!;
      return { cookie, csrf };
    };

    const f = writeFile(c.dir, 'fix.bin', randomBytes(1000));
    assert.equal((await publish(base, { name: 'fix', version: '1' }, [f], publisher)).status, 201);
    const s = await signIn(approver);
    const asConsole = (ring: string) => request(`${base}/v1/packages/fix@1/approve`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ ring }) });
    const refused = await asConsole('broad');
    assert.equal(refused.statusCode, 403);
    assert.equal(((await refused.body.json()) as { error: { code: string } }).error.code, 'FORBIDDEN_ROLE');
    const seq = hq.catalog.seq;
    const ok = await asConsole('pilot');
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
    assert.equal(hq.catalog.seq, seq + 1);

    // The console shows each person what their role may do (the server refuses the rest).
    const pageAs = async (cookie: string, path: string) => (await request(`${base}${path}`, { headers: { cookie } })).body.text();
    const approverPackage = await pageAs(s.cookie, '/ui/packages/fix@1');
    assert.match(approverPackage, /Review approval/);
    assert.ok(!(await pageAs(s.cookie, '/ui/packages')).includes('id="publish-form"'), 'no publish form for an approver');
    const pub = await signIn(publisher);
    assert.match(await pageAs(pub.cookie, '/ui/packages'), /id="publish-form"/);
    assert.ok(!(await pageAs(pub.cookie, '/ui/packages/fix@1')).includes('Review approval'), 'no approval form for a publisher');

    // Reports: the publisher may not read them; the auditor of east reads east's site only.
    const p = await signIn(publisher);
    const denied = await request(`${base}/ui/compliance.csv`, { headers: { cookie: p.cookie } });
    await denied.body.dump();
    assert.equal(denied.statusCode, 403);
    const a = await signIn(auditor);
    const csv = await request(`${base}/ui/compliance.csv`, { headers: { cookie: a.cookie } });
    const text = await csv.body.text();
    assert.equal(csv.statusCode, 200);
    assert.ok(!/\bwest\b/.test(text), `west is outside the auditor's scope:\n${text}`);
    const all = await call(`${base}/v1/reports`, ADMIN_TOKEN);
    assert.ok('hq' in all.json.sites, `an admin sees the primary's own site: ${Object.keys(all.json.sites).join(', ')}`);
    const adminCsv = await request(`${base}/ui/compliance.csv`, { headers: { cookie: (await signIn(ADMIN_TOKEN)).cookie } });
    const adminText = await adminCsv.body.text();
    const api = await call(`${base}/v1/reports`, auditor);
    assert.ok(!('west' in api.json.sites) && !('hq' in api.json.sites), `sites: ${Object.keys(api.json.sites).join(', ')}`);

    const trail = await call(`${base}/v1/audit?limit=1000`, ADMIN_TOKEN);
    const signIns = (trail.json.entries as { who: string; act: string; outcome: string; via: string }[]).filter((e) => e.act === 'sign-in');
    assert.deepEqual(signIns.map((e) => [e.who, e.outcome]), [['amy', 'ok'], ['pat', 'ok'], ['pat', 'ok'], ['aud', 'ok'], ['tester', 'ok']]);
    assert.ok(adminText.length >= text.length);
    assert.ok((trail.json.entries as { who: string; act: string; outcome: string; via: string }[]).some((e) => e.who === 'amy' && e.act === 'approve' && e.outcome === 'FORBIDDEN_ROLE' && e.via === 'session'));
  });
});

describe('the audit trail of the whole tree', () => {
  it('an act at a branch reaches the primary\'s tree view with the branch, the person and the outcome', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    // Audit entries climb only with a credential that names the node (its own token, or its certificate).
    const branchToken = 'branch-token-0123456789abcdef';
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, childTokens: `branch=${branchToken}` }, TEST_TUNING);
    await startNode(c.topology, 'branch', { ...c.secrets, peerToken: branchToken }, TEST_TUNING);
    const base = c.topology.nodes.get('hq')!.url;
    const branchBase = c.topology.nodes.get('branch')!.url;
    const op = (await call(`${branchBase}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'ole', role: 'operator', nodes: ['branch'] })).json.token as string;
    assert.equal((await call(`${branchBase}/v1/verify`, op, 'POST', {})).status, 200);
    type Entry = { node: string; who: string; act: string; outcome: string };
    await waitFor('the branch\'s verify in the primary\'s tree view', async () => ((await call(`${base}/v1/audit?tree=1&limit=1000`, ADMIN_TOKEN)).json.entries as Entry[]).some((e) => e.node === 'branch' && e.who === 'ole' && e.act === 'verify' && e.outcome === 'ok'), 20_000);
    const cli = await runCli(['audit', '--tree', '--server', base], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^branch {2}\d+ {2}\S+ {2}ole \(operator\) {2}from 127\.0\.0\.1 {2}verify {2}ok$/m);
    assert.match(cli.stdout, /^branch {2}\d+ .* tester \(admin\) .* tokens ole \(operator\) {2}ok$/m);
    void hq;
  });
});

describe('an approver acts within its rings, never beyond', () => {
  it('only a scope of "*" covers the ring all (not "a*", "al*", "*l"); a decline racing an approval outside its rings is refused, never withdrawing that approval', async () => {
    const c = await makeCluster([{ name: 'hq' }], 'rings: [pilot, prod, alpha]');
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const token = async (name: string, rings: string) => (await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name, role: 'approver', rings: rings.split(',') })).json.token as string;
    const f = writeFile(c.dir, 'fix.bin', randomBytes(1000));
    assert.equal((await publish(base, { name: 'fix', version: '1' }, [f])).status, 201);

    // A pattern matching the word "all" is not a scope over every ring.
    for (const pattern of ['a*', 'al*', '*l', 'a*l']) {
      const t = await token(`p-${pattern.replace(/\*/g, 'x')}`, pattern);
      const r = await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'all' }, t);
      assert.equal(r.status, 403, `${pattern} may not approve for all`);
      assert.equal(r.json.error.code, 'FORBIDDEN_ROLE');
      if (pattern === 'a*') assert.equal((await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'alpha' }, t)).status, 200, 'it does cover alpha');
    }
    const every = await token('every', '*');
    assert.equal((await adminPost(base, '/v1/packages/fix@1/approve', { ring: 'all' }, every)).status, 200);
    assert.ok(hq.catalog.state.get('fix@1')!.approvals.has('all'));

    // A pilot approver declines while an admin approves the same package for prod: the decline
    // is checked against the rings the package holds when it is applied, so whichever lands
    // first, a prod approval is never withdrawn by someone without prod in scope.
    const pilotOnly = await token('pia', 'pilot');
    for (let i = 0; i < 12; i++) {
      const g = writeFile(c.dir, `race-${i}.bin`, randomBytes(200));
      assert.equal((await publish(base, { name: 'race', version: String(i) }, [g])).status, 201);
      const id = `race@${i}`;
      assert.equal((await adminPost(base, `/v1/packages/${id}/approve`, { ring: 'pilot' })).status, 200);
      const approving = adminPost(base, `/v1/packages/${id}/approve`, { ring: 'prod' });
      const declining = adminPost(base, `/v1/packages/${id}/decline`, {}, pilotOnly);
      const [approved, declined] = await Promise.all([approving, declining]);
      assert.equal(approved.status, 200);
      const pkg = hq.catalog.state.get(id)!;
      if (declined.status === 200) {
        // The decline landed first: the prod approval came after it and holds.
        assert.ok(pkg.approvals.has('prod') && !pkg.declined, `round ${i}: a pilot approver's decline withdrew prod`);
      } else {
        assert.equal(declined.json.error.code, 'FORBIDDEN_ROLE', `round ${i}`);
        assert.ok(pkg.approvals.has('prod'));
      }
    }
  });
});
