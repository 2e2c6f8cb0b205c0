import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { request } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { release } from '../helpers/replication.js';
import { publish, writeFile } from '../helpers/publish.js';

let c: Awaited<ReturnType<typeof makeCluster>>;
let hq: SluiceNode;
let branch: SluiceNode;
let base: string;

const text = async (url: string, headers: Record<string, string> = {}) => {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
};
const cookieOf = (setCookie: string | string[] | undefined, name: string): string | undefined => {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return all.find((c) => c.startsWith(`${name}=`));
};

/** Signs in the way the form does: load it (form cookie + field), post the token. */
async function signIn(token: string, next = '/ui/packages') {
  const form = await text(`${base}/ui/sign-in`);
  const formCookie = cookieOf(form.headers['set-cookie'], 'sluice_sign_in')!.split(';')[0]!;
  const formToken = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const res = await request(`${base}/ui/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie },
    body: new URLSearchParams({ _csrf: formToken, token, next }).toString(),
  });
  const body = await res.body.text();
  const session = cookieOf(res.headers['set-cookie'], 'sluice_session');
  return { status: res.statusCode, location: res.headers.location, body, setCookie: session, cookie: session?.split(';')[0] };
}

async function csrfOf(cookie: string): Promise<string> {
  const page = await text(`${base}/ui/packages`, { cookie });
  return /name="csrf-token" content="([^"]+)"/.exec(page.body)![1]!;
}

describe('admin console over HTTP: sessions, form tokens, escaping, live events', () => {
  before(async () => {
    c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'ring: pilot' }]);
    hq = await startNode(c.topology, 'hq', c.secrets);
    branch = await startNode(c.topology, 'branch', c.secrets);
    base = hq.address.url;
  });

  it('every page forbids inline script and framing; assets revalidate with an ETag', async () => {
    for (const view of ['packages', 'tree', 'schedules', 'sign-in']) {
      const r = await text(`${base}/ui/${view}`);
      assert.equal(r.status, 200, view);
      assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
      assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.doesNotMatch(r.body, /<script>|\son[a-z]+=|style="/, `${view}: no inline script, handler or style`);
    }
    const asset = await text(`${base}/ui/assets/htmx.min.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.body, /htmx/);
    const again = await request(`${base}/ui/assets/htmx.min.js`, { headers: { 'if-none-match': String(asset.headers.etag) } });
    await again.body.dump();
    assert.equal(again.statusCode, 304);
    assert.equal((await text(`${base}/ui/assets/..%2F..%2Fpackage.json`)).status, 404);
  });

  it('signs in only with an admin token, from its own form, and redirects only within the console', async () => {
    const wrong = await signIn('wrong-token-0123456789abcdef');
    assert.equal(wrong.status, 403);
    assert.equal(wrong.setCookie, undefined);
    assert.match(wrong.body, /not one this node accepts/);

    // A sign-in posted without the form's cookie (another site's form) is refused.
    const forged = await request(`${base}/ui/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${ADMIN_TOKEN}&_csrf=x` });
    assert.equal(forged.statusCode, 403);
    assert.equal(cookieOf(forged.headers['set-cookie'], 'sluice_session'), undefined);
    await forged.body.dump();

    const ok = await signIn(ADMIN_TOKEN, '/ui/tree');
    assert.equal(ok.status, 303);
    assert.equal(ok.location, '/ui/tree');
    assert.match(ok.setCookie!, /HttpOnly/);
    assert.match(ok.setCookie!, /SameSite=Strict/);
    assert.doesNotMatch(ok.setCookie!, /Secure/, 'plain HTTP: a Secure cookie would never come back');
    for (const next of ['//evil.example/x', 'https://evil.example/', '/v1/packages', '/ui\\..\\evil']) {
      assert.equal((await signIn(ADMIN_TOKEN, next)).location, '/ui/packages', next);
    }
  });

  it('a session acts through the /v1 routes only with its form token, and not after sign-out', async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const csrf = await csrfOf(cookie!);
    const rel = await release(base, c.dir, 'tool', { ring: null });
    const approve = (headers: Record<string, string>) => request(`${base}/v1/packages/${rel.id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"ring":"pilot"}' });

    const noToken = await approve({ cookie: cookie! });
    assert.equal(noToken.statusCode, 403);
    assert.equal(((await noToken.body.json()) as { error: { code: string } }).error.code, 'CSRF_REJECTED');
    const otherToken = await approve({ cookie: cookie!, 'x-csrf-token': `${csrf.slice(0, -2)}xx` });
    assert.equal(otherToken.statusCode, 403);
    await otherToken.body.dump();

    const done = await approve({ cookie: cookie!, 'x-csrf-token': csrf });
    assert.equal(done.statusCode, 200);
    const pkg = (await done.body.json()) as { approvals: { ring: string; by: string }[] };
    assert.deepEqual(pkg.approvals.map((a) => [a.ring, a.by]), [['pilot', 'tester']], 'the catalog names the signed-in admin');

    // Signing out needs the form token too; then the cookie is worth nothing.
    const badOut = await request(`${base}/ui/sign-out`, { method: 'POST', headers: { cookie: cookie!, 'content-type': 'application/x-www-form-urlencoded' }, body: '_csrf=nope' });
    assert.equal(badOut.statusCode, 403);
    await badOut.body.dump();
    const out = await request(`${base}/ui/sign-out`, { method: 'POST', headers: { cookie: cookie!, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(csrf)}` });
    assert.equal(out.statusCode, 303);
    await out.body.dump();
    const after = await request(`${base}/v1/packages/${rel.id}/decline`, { method: 'POST', headers: { cookie: cookie!, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(after.statusCode, 401);
    await after.body.dump();
    // The /v1 API does not take urlencoded forms (what a cross-site form could send).
    const form = await request(`${base}/v1/packages/${rel.id}/decline`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' });
    assert.equal(form.statusCode, 415);
    await form.body.dump();
  });

  it('patch day: the new packages a filter shows are reviewed and approved together for one ring', async () => {
    const a = await release(base, c.dir, 'patchday-a', { ring: null });
    const b = await release(base, c.dir, 'patchday-b', { ring: null, meta: { severity: 'critical' } });
    const { cookie } = await signIn(ADMIN_TOKEN);
    const list = await text(`${base}/ui/packages?q=patchday`, { cookie: cookie! });
    assert.match(list.body, /Approve the 2 new packages shown for ring/);
    const review = await text(`${base}/ui/approvals/confirm?q=patchday&ring=all`, { cookie: cookie! });
    assert.equal(review.status, 200);
    assert.match(review.body, /Approve 2 packages for ring all\?/);
    const body = /data-body='([^']+)'/.exec(review.body)![1]!.replaceAll('&quot;', '"');
    assert.deepEqual(new Set(JSON.parse(body).ids), new Set([a.id, b.id]));
    const csrf = await csrfOf(cookie!);
    const res = await request(`${base}/v1/approvals`, { method: 'POST', headers: { cookie: cookie!, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body });
    assert.equal(res.statusCode, 200, await res.body.text());
    for (const id of [a.id, b.id]) assert.equal(hq.catalog.state.stateOf(hq.catalog.state.get(id)!), 'approved');
    // A ring that does not exist, or none chosen, is refused before anything is shown.
    assert.equal((await text(`${base}/ui/approvals/confirm?q=patchday&ring=`, { cookie: cookie! })).status, 400);
  });

  it('compliance needs a session; text an endpoint reported is escaped in the page and defused in the CSV', async () => {
    const anonymous = await text(`${base}/ui/compliance`);
    assert.equal(anonymous.status, 303);
    assert.equal(anonymous.headers.location, '/ui/sign-in?next=%2Fui%2Fcompliance');
    assert.equal((await text(`${base}/ui/compliance.csv`)).status, 303);

    const rel = await release(base, c.dir, 'agent-fix', { ring: 'all' });
    // A node counts reports of packages in its catalog only.
    await waitFor('the package in the branch\'s catalog', () => branch.catalog.state.get(rel.id));
    const hostile = '<img src=x onerror=alert(1)><script>alert(2)</script>';
    const report = await request(`${branch.address.url}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reports: [{ clientId: 'pc-9', package: rel.id, status: 'failed', error: hostile, at: new Date().toISOString() }] }),
    });
    assert.equal(report.statusCode, 200);
    await report.body.dump();
    const { cookie } = await signIn(ADMIN_TOKEN);
    const page = await waitFor('the failure at hq', async () => {
      const p = await text(`${base}/ui/compliance?package=${encodeURIComponent(rel.id)}`, { cookie: cookie! });
      return p.body.includes('pc-9') ? p : undefined;
    });
    assert.ok(page.body.includes('&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;'));
    assert.ok(!page.body.includes('<img src=x'));
    // A newer failure whose text a spreadsheet would run as a formula.
    const formula = await request(`${branch.address.url}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reports: [{ clientId: 'pc-10', package: rel.id, status: 'failed', error: '=HYPERLINK("http://evil.example","x")', at: new Date(Date.now() + 1000).toISOString() }] }),
    });
    await formula.body.dump();
    const csv = await waitFor('the newer failure in the CSV', async () => {
      const r = await text(`${base}/ui/compliance.csv?package=${encodeURIComponent(rel.id)}`, { cookie: cookie! });
      return r.body.includes('pc-10') ? r : undefined;
    });
    assert.equal(csv.status, 200);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    assert.match(String(csv.headers['content-disposition']), /attachment; filename="compliance-hq.csv"/);
    const row = csv.body.split('\r\n').find((l) => l.startsWith(`${rel.id},moderate,branch,`));
    assert.ok(row, csv.body);
    assert.ok(row.includes(`,pc-10,"'=HYPERLINK(""http://evil.example"",""x"")",`), `a formula is kept as text: ${row}`);
  });

  it('lists a long catalog a page of 200 rows at a time', async () => {
    const already = [...hq.catalog.state.all()].length;
    for (let i = 0; i < 201; i++) {
      const r = await publish(base, { name: `bulk-${i}`, version: '1' }, [writeFile(c.dir, `bulk-${i}.bin`, Buffer.from(`bulk ${i}`))]);
      assert.equal(r.status, 201);
    }
    const total = already + 201;
    const first = await text(`${base}/ui/packages`);
    assert.equal((first.body.match(/<tr>\n<th scope="row">/g) ?? []).length, 200);
    assert.match(first.body, new RegExp(`Rows 1–200 of ${total}`));
    assert.match(first.body, /href="\/ui\/packages\?page=2" rel="next"/);
    const second = await text(`${base}/ui/packages?page=2&q=`);
    assert.equal((second.body.match(/<tr>\n<th scope="row">/g) ?? []).length, total - 200);
    assert.match(second.body, /rel="prev"/);
    assert.doesNotMatch(second.body, /rel="next"/);
    for (const odd of ['999', 'abc', '-1']) assert.equal((await text(`${base}/ui/packages?page=${odd}`)).status, 200, odd);
    // A filter narrows before paging, and the links keep it.
    const filtered = await text(`${base}/ui/packages?q=bulk-1`);
    assert.match(filtered.body, /111 of /, 'bulk-1, bulk-10..19, bulk-100..199');
    assert.doesNotMatch(filtered.body, /rel="next"/);
  });

  it('sends a change that happened between the render and the connection, and the node closes with streams open', async () => {
    const before = hq.catalog.seq;
    const stream = await request(`${base}/ui/events?topics=catalog&seen=catalog:${before}`);
    assert.equal(stream.statusCode, 200);
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    let received = '';
    stream.body.setEncoding('utf8');
    stream.body.on('data', (d: string) => (received += d));
    await release(base, c.dir, 'live', { ring: null });
    await waitFor('a catalog event', () => /event: catalog\ndata: \d+/.test(received));
    const extra = await request(`${branch.address.url}/ui/events?topics=tree`);
    const closing = Date.now();
    await branch.close();
    assert.ok(Date.now() - closing < 5_000, `closed in ${Date.now() - closing} ms with a live stream open`);
    // The branch ended its stream when it closed.
    await extra.body.text();
    // Nobody reads an open stream to its end: the client goes away.
    stream.body.destroy();
  });
});
