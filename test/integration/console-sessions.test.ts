import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { runCli } from '../helpers/cli.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { publish, writeFile } from '../helpers/publish.js';

const call = async (url: string, token: string, method: 'GET' | 'POST' | 'DELETE' = 'GET', body?: unknown) => {
  const res = await request(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.statusCode, json: (await res.body.json()) as any };
};
const setCookies = (h: string | string[] | undefined) => ([] as string[]).concat(h ?? []);

/** Signs in the way the console's form does; the session cookie, its Max-Age and the page's form token. */
async function signIn(base: string, token: string) {
  const form = await request(`${base}/ui/sign-in`);
  const formBody = await form.body.text();
  const formCookie = setCookies(form.headers['set-cookie']).find((s) => s.startsWith('sluice_sign_in='))!.split(';')[0]!;
  const formToken = /name="_csrf" value="([^"]+)"/.exec(formBody)![1]!;
  const res = await request(`${base}/ui/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie }, body: new URLSearchParams({ _csrf: formToken, token, next: '/ui/packages' }).toString() });
  await res.body.dump();
  const set = setCookies(res.headers['set-cookie']).find((s) => s.startsWith('sluice_session='));
  if (res.statusCode !== 303 || !set) return { status: res.statusCode };
  const cookie = set.split(';')[0]!;
  const page = await request(`${base}/ui/packages`, { headers: { cookie } });
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(await page.body.text())![1]!;
  return { status: res.statusCode, cookie, csrf, maxAge: Number(/Max-Age=(\d+)/i.exec(set)![1]) };
}

/** The console's approve: the same /v1 call the CLI makes, with the session and its form token. */
async function approveAs(base: string, s: { cookie?: string; csrf?: string }, id: string, ring: string) {
  const res = await request(`${base}/v1/packages/${id}/approve`, { method: 'POST', headers: { cookie: s.cookie!, 'x-csrf-token': s.csrf!, 'content-type': 'application/json' }, body: JSON.stringify({ ring }) });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

type Entry = { who: string; role: string | null; via: string | null; act: string; outcome: string };

describe('console sessions end with their credential', () => {
  it('revoking a named token ends the console sessions made with it on their next request: the approve is refused 401 SESSION_ENDED and changes nothing, pages go to sign-in saying why, the refusal is audited; a new token of the same name does not revive them', async () => {
    const c = await makeCluster([{ name: 'hq' }], 'rings: [pilot, broad]');
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    assert.equal((await publish(base, { name: 'fix', version: '1' }, [writeFile(c.dir, 'fix.bin', randomBytes(2000))])).status, 201);
    const made = await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'amy', role: 'approver', rings: ['pilot'], expires: '1h' });
    assert.equal(made.status, 201);
    const s = await signIn(base, made.json.token);
    assert.equal(s.status, 303);
    assert.ok(s.maxAge! <= 3600, `the cookie lives no longer than the token: Max-Age=${s.maxAge}`);
    const pageBefore = await request(`${base}/ui/packages/fix@1`, { headers: { cookie: s.cookie! } });
    assert.match(await pageBefore.body.text(), /Review approval/, 'the session acts as amy before the revocation');

    const revoked = await runCli(['token', 'revoke', 'amy', '--server', base], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.equal(revoked.code, 0, revoked.stderr);
    const seq = hq.catalog.seq;
    const refused = await approveAs(base, s, 'fix@1', 'pilot');
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error.code, 'SESSION_ENDED');
    assert.match(refused.json.error.message, /token amy .* revoked.*sign in again/);
    assert.equal(hq.catalog.seq, seq, 'nothing entered the catalog');
    assert.equal(hq.catalog.state.get('fix@1')!.approvals.size, 0);

    // A token made again under the same name is another token: the old session stays ended.
    assert.equal((await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: 'amy', role: 'approver', rings: ['pilot'] })).status, 201);
    const again = await approveAs(base, s, 'fix@1', 'pilot');
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, 'SESSION_ENDED');
    assert.equal(hq.catalog.seq, seq);

    // The console: a page asked for with the ended session goes to the sign-in page, which says why.
    const page = await request(`${base}/ui/packages/fix@1`, { headers: { cookie: s.cookie! } });
    await page.body.dump();
    assert.equal(page.statusCode, 303);
    assert.equal(page.headers.location, '/ui/sign-in?ended=revoked&next=%2Fui%2Fpackages%2Ffix%401');
    assert.ok(setCookies(page.headers['set-cookie']).some((k) => /^sluice_session=;/.test(k)), 'the session cookie is cleared');
    const signInPage = await request(`${base}${String(page.headers.location)}`);
    assert.match(await signInPage.body.text(), /role="alert" id="session-ended">Your console session has ended: the token you signed in with was revoked/);
    // A fragment htmx asks for is sent to the same page with a full load.
    const fragment = await request(`${base}/ui/packages/fix@1/confirm?action=approve&ring=pilot`, { headers: { cookie: s.cookie!, 'hx-request': 'true', 'hx-current-url': `${base}/ui/packages/fix@1` } });
    await fragment.body.dump();
    assert.equal(fragment.statusCode, 401);
    assert.equal(fragment.headers['hx-redirect'], '/ui/sign-in?ended=revoked&next=%2Fui%2Fpackages%2Ffix%401');

    const trail = (await call(`${base}/v1/audit?limit=1000`, ADMIN_TOKEN)).json.entries as Entry[];
    const ended = trail.filter((e) => e.act === 'approve' && e.outcome === 'SESSION_ENDED');
    assert.equal(ended.length, 2, JSON.stringify(trail));
    assert.ok(ended.every((e) => e.who === 'amy' && e.role === 'approver' && e.via === 'session'), 'the refused act names whom the session was');
    assert.ok(!trail.some((e) => e.act === 'approve' && e.outcome === 'ok'));
  });

  it('a console session ends when its token expires, whatever is left of its 8 hours', async () => {
    const c = await makeCluster([{ name: 'hq' }], 'rings: [pilot]');
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    assert.equal((await publish(base, { name: 'fix', version: '1' }, [writeFile(c.dir, 'fix.bin', randomBytes(2000))])).status, 201);
    // The shortest expiry that leaves time to sign in; a longer one only if this machine was
    // too slow to sign in before the token expired.
    let s: Awaited<ReturnType<typeof signIn>> | undefined;
    let expiresAt = 0;
    for (const [i, expires] of ['2s', '10s', '30s'].entries()) {
      const made = await call(`${base}/v1/tokens`, ADMIN_TOKEN, 'POST', { name: `temp${i}`, role: 'approver', rings: ['pilot'], expires });
      assert.equal(made.status, 201);
      expiresAt = Date.parse(made.json.expiresAt);
      s = await signIn(base, made.json.token);
      if (s.status === 303) break;
    }
    assert.equal(s!.status, 303, 'signed in before the token expired');
    assert.ok(s!.maxAge! <= Math.ceil((expiresAt - Date.now()) / 1000) + 1, `the cookie lives no longer than the token: Max-Age=${s!.maxAge}`);

    const location = await waitFor('the session to end with its token', async () => {
      const page = await request(`${base}/ui/packages`, { headers: { cookie: s!.cookie! } });
      await page.body.dump();
      return page.statusCode === 303 ? String(page.headers.location) : undefined;
    }, expiresAt - Date.now() + 15_000, 100);
    assert.ok(Date.now() >= expiresAt, 'not before the token expired');
    assert.equal(location, '/ui/sign-in?ended=expired&next=%2Fui%2Fpackages');
    const seq = hq.catalog.seq;
    const refused = await approveAs(base, s!, 'fix@1', 'pilot');
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error.code, 'SESSION_ENDED');
    assert.match(refused.json.error.message, /the token temp\d this console session was signed in with expired at .*sign in again/);
    assert.equal(hq.catalog.seq, seq, 'nothing entered the catalog');
  });
});
