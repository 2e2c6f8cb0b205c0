import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { request } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import type { RingView } from '../../src/reports/rings-view.js';
import { runCli } from '../helpers/cli.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { adminPost } from '../helpers/publish.js';
import { converged, release } from '../helpers/replication.js';

/*
 * A site whose node serves two rings: lyon serves pilot and broad machines, boston broad only
 * (its schedule paused, so it is still fetching). pilot got tool 1.1; broad keeps tool 1.0;
 * notes@1 is approved for all. Driven through real nodes, the CLI and the console over HTTP.
 */
let c: Awaited<ReturnType<typeof makeCluster>>;
let hq: SluiceNode;
let lyon: SluiceNode;
let base: string;
const env = () => ({ SLUICE_TOKEN: ADMIN_TOKEN });

const text = async (url: string, headers: Record<string, string> = {}) => {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
};
const cookieOf = (setCookie: string | string[] | undefined, name: string): string | undefined => {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return all.find((k) => k.startsWith(`${name}=`));
};

/** Signs in at the console the way its form does; returns the session cookie and its form token. */
async function signIn(token: string): Promise<{ cookie: string; csrf: string }> {
  const form = await text(`${base}/ui/sign-in`);
  const formCookie = cookieOf(form.headers['set-cookie'], 'sluice_sign_in')!.split(';')[0]!;
  const formToken = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const res = await request(`${base}/ui/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie },
    body: new URLSearchParams({ _csrf: formToken, token, next: '/ui/packages' }).toString(),
  });
  await res.body.dump();
  assert.equal(res.statusCode, 303);
  const cookie = cookieOf(res.headers['set-cookie'], 'sluice_session')!.split(';')[0]!;
  const page = await text(`${base}/ui/packages`, { cookie });
  return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page.body)![1]! };
}

/** The `<tr>` of the console's Rings table for a ring and package. */
function ringRow(page: string, ring: string, id: string): string {
  const m = new RegExp(`<tr data-ring="${ring}" data-package="${id.replace(/[.@]/g, (ch) => `\\${ch}`)}">([\\s\\S]*?)</tr>`).exec(page);
  assert.ok(m, `no row for ${id} in ${ring}`);
  return m[1]!;
}

/** The options of the first <select name="ring"> in a page. */
const ringOptions = (page: string) => [.../<select name="ring"[^>]*>([\s\S]*?)<\/select>/.exec(page)![1]!.matchAll(/<option[^>]*>([^<]*)<\/option>/g)].map((m) => m[1]);

async function reportAt(node: SluiceNode, reports: { clientId: string; package: string; status: string; ring: string }[]) {
  const res = await request(`${node.address.url}/v1/reports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reports: reports.map((r) => ({ ...r, at: new Date().toISOString() })) }),
  });
  assert.equal(res.statusCode, 200, await res.body.text());
}

describe('rings that hold, shown as such: a site serving pilot and broad', { timeout: 120_000 }, () => {
  before(async () => {
    c = await makeCluster(
      [
        { name: 'hq' },
        { name: 'lyon', upstream: 'hq', extra: 'ring: [pilot, broad]' },
        { name: 'boston', upstream: 'hq', extra: 'ring: broad, region: paused' },
      ],
      'rings: [pilot, broad]',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  paused: { timezone: UTC, schedule: [{ rate: paused }], sync: { every: 10m, jitter: 0s } }'],
    );
    hq = await startNode(c.topology, 'hq', c.secrets);
    lyon = await startNode(c.topology, 'lyon', c.secrets);
    await startNode(c.topology, 'boston', c.secrets);
    base = hq.address.url;
    await release(base, c.dir, 'tool', { version: '1.0', ring: 'pilot' });
    assert.equal((await adminPost(base, '/v1/packages/tool@1.0/approve', { ring: 'broad' })).status, 200);
    await release(base, c.dir, 'notes', { version: '1', ring: 'all' });
    await release(base, c.dir, 'tool', { version: '1.1', ring: null, meta: { supersedes: 'tool@1.0' } });
  });

  it('the approval preview says which version pilot moves from, and that broad keeps its own', async () => {
    const { cookie } = await signIn(ADMIN_TOKEN);
    const preview = await text(`${base}/ui/packages/tool%401.1/confirm?action=approve&ring=pilot`, { cookie });
    assert.equal(preview.status, 200, preview.body);
    assert.match(preview.body, /Machines of <strong>pilot<\/strong> move from tool@1\.0 to tool@1\.1\./);
    assert.match(preview.body, /Other rings keep theirs: broad keeps tool@1\.0\./);
    assert.equal((await adminPost(base, '/v1/packages/tool@1.1/approve', { ring: 'pilot' })).status, 200);
    // Approving again would change nothing: the preview says so and offers no button.
    const again = await text(`${base}/ui/packages/tool%401.1/confirm?action=approve&ring=pilot`, { cookie });
    assert.match(again.body, /This would change nothing for any machine: tool@1\.1 is already approved for pilot \(ALREADY_APPROVED\)/);
    assert.doesNotMatch(again.body, /data-api=/);
  });

  it('sluice status --by-ring: pilot has 1.1 and broad keeps 1.0, with the nodes that hold each and their endpoints (JSON and text)', async () => {
    await converged(lyon, hq.catalog.seq);
    // lyon's endpoints name their ring; boston's node serves one ring, which it fills in.
    await reportAt(lyon, [
      { clientId: 'pc-p1', package: 'tool@1.1', status: 'succeeded', ring: 'pilot' },
      { clientId: 'pc-b1', package: 'tool@1.0', status: 'succeeded', ring: 'broad' },
      { clientId: 'pc-b2', package: 'tool@1.0', status: 'failed', ring: 'broad' },
    ]);
    const boston = c.topology.nodes.get('boston')!.url;
    await waitFor('boston to know tool@1.0', async () => (await text(`${boston}/v1/packages/tool%401.0`)).status === 200);
    const res = await request(`${boston}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reports: [{ clientId: 'pc-b3', package: 'tool@1.0', status: 'pending', at: new Date().toISOString() }] }),
    });
    assert.equal(res.statusCode, 200, await res.body.text());

    const cli = (...args: string[]) => runCli(['status', '--by-ring', '--server', base, ...args], { env: env() });
    const json = await waitFor('the reports of both sites and the statuses of both nodes at hq', async () => {
      const r = await cli('--json');
      assert.equal(r.code, 0, r.stderr);
      const body = JSON.parse(r.stdout) as { rings: RingView[] };
      const broad = body.rings.find((x) => x.ring === 'broad')!;
      const v = broad.packages.find((p) => p.name === 'tool')?.versions[0];
      const lyonHolds = body.rings.every((x) => x.packages.every((p) => p.versions.every((ver) => ver.nodes.find((n) => n.node === 'lyon')?.state !== 'behind')));
      return v && v.endpoints.clients === 3 && v.nodes.some((n) => n.node === 'boston' && n.state === 'fetching') && lyonHolds ? body : undefined;
    });
    assert.deepEqual(json.rings.map((r) => r.ring), ['pilot', 'broad', 'all']);
    const [pilot, broad, all] = json.rings as [RingView, RingView, RingView];

    assert.deepEqual(pilot.nodes, ['lyon']);
    const pilotTool = pilot.packages.find((p) => p.name === 'tool')!;
    assert.deepEqual(pilotTool.versions.map((v) => [v.id, v.via]), [['tool@1.1', 'pilot']], 'pilot receives 1.1 only');
    assert.deepEqual(pilotTool.versions[0]!.nodes, [{ node: 'lyon', role: 'member', state: 'holds' }]);
    assert.equal(pilotTool.versions[0]!.endpoints.clients, 1);
    assert.equal(pilotTool.versions[0]!.endpoints.counts.succeeded, 1);
    assert.equal(pilotTool.versions[0]!.endpoints.compliantPercent, 100);

    assert.deepEqual(broad.nodes, ['lyon', 'boston']);
    const broadTool = broad.packages.find((p) => p.name === 'tool')!;
    assert.deepEqual(broadTool.versions.map((v) => v.id), ['tool@1.0'], 'broad keeps 1.0');
    const v10 = broadTool.versions[0]!;
    assert.deepEqual(v10.nodes, [
      { node: 'lyon', role: 'member', state: 'holds' },
      { node: 'boston', role: 'member', state: 'fetching', expectedBy: null },
    ]);
    assert.deepEqual([v10.endpoints.clients, v10.endpoints.counts.succeeded, v10.endpoints.counts.failed, v10.endpoints.counts.pending, v10.endpoints.compliantPercent], [3, 1, 1, 1, 33.3]);
    assert.deepEqual(v10.endpoints.sites.map((s) => [s.site, s.clients]), [['lyon', 2], ['boston', 1]]);
    assert.deepEqual(broad.sites, [{ site: 'lyon', clients: 2 }, { site: 'boston', clients: 1 }]);
    assert.deepEqual(broad.packages.find((p) => p.name === 'notes')!.versions.map((v) => [v.id, v.via]), [['notes@1', 'all']]);

    assert.deepEqual(all.nodes, ['hq'], 'machines of no ring are served by the node of no ring');
    assert.deepEqual(all.packages.map((p) => p.versions.map((v) => v.id)), [['notes@1']]);

    const plain = await cli();
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^ring pilot: nodes lyon; 1 endpoint \(lyon 1\)$/m);
    assert.match(plain.stdout, /^ {2}tool +1\.1 +lyon holds +100% of 1: 1 succeeded$/m);
    assert.match(plain.stdout, /^ring broad: nodes lyon, boston; 3 endpoints \(lyon 2, boston 1\)$/m);
    assert.match(plain.stdout, /^ {2}tool +1\.0 +lyon holds, boston fetching +33\.3% of 3: 1 succeeded, 1 failed, 1 pending \(lyon 1\/2, boston 0\/1\)$/m);
    assert.match(plain.stdout, /^ {2}notes +1 \(via all\) +lyon holds, boston fetching/m);
    const one = await cli('--ring', 'pilot');
    assert.doesNotMatch(one.stdout, /ring broad/);
    const watched = await cli('--ring', 'pilot', '--watch', '--count', '1', '--interval', '100ms');
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, /^sluice status at .*\nring pilot: nodes lyon/m);

    // The plan says when the nodes still fetching should have it.
    const plan = await runCli(['plan', '--by-ring', '--server', base], { env: env() });
    assert.match(plan.stdout, /^ {2}pilot +tool@1\.1 +held by every node: lyon$/m, plan.stdout);
    assert.match(plan.stdout, /^ {2}broad +tool@1\.0 +boston fetching, expected not within 400 days; held by lyon$/m);
    const planJson = JSON.parse((await runCli(['plan', '--by-ring', '--json', '--server', base], { env: env() })).stdout) as { nodes: unknown[]; rings: RingView[] };
    assert.deepEqual(planJson.rings.map((r) => r.ring), ['pilot', 'broad', 'all']);

    // The node answers a page of package names at a time; the CLI asks for every page.
    const paged = await request(`${base}/v1/rings?offset=1&limit=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const page = (await paged.body.json()) as { total: number; offset: number; limit: number; rings: RingView[] };
    assert.deepEqual([page.total, page.offset, page.limit], [5, 1, 1], 'pilot: notes, tool; broad: notes, tool; all: notes');
    assert.deepEqual(page.rings.map((r) => [r.ring, r.names, r.packages.map((p) => p.name)]), [['pilot', 2, ['tool']], ['broad', 2, []], ['all', 1, []]]);

    // Endpoint figures are reports: without a role that reads them, no view.
    const anonymous = await runCli(['status', '--by-ring', '--server', base], { env: { SLUICE_TOKEN: '' } });
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /UNAUTHORIZED/);
    const publisher = await runCli(['token', 'add', 'pub', '--role', 'publisher', '--server', base], { env: env() });
    const forbidden = await runCli(['status', '--by-ring', '--server', base], { env: { SLUICE_TOKEN: publisher.stdout.trim() } });
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /FORBIDDEN_ROLE.*may not read reports/);
    const unknown = await cli('--ring', 'nowhere');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /UNKNOWN_RING/);
  });

  it('the console\'s Rings view shows the same, and needs a session that reads reports', async () => {
    const anonymous = await text(`${base}/ui/rings`);
    assert.equal(anonymous.status, 303);
    const { cookie } = await signIn(ADMIN_TOKEN);
    const page = await text(`${base}/ui/rings`, { cookie });
    assert.equal(page.status, 200);
    assert.match(page.body, /<a href="\/ui\/rings" aria-current="page">Rings<\/a>/);
    const pilotRow = ringRow(page.body, 'pilot', 'tool@1.1');
    assert.match(pilotRow, /<li data-node="lyon">lyon: <span class="ok">holds<\/span><\/li>/);
    assert.match(pilotRow, /100% of 1/);
    const broadRow = ringRow(page.body, 'broad', 'tool@1.0');
    assert.match(broadRow, /<li data-node="lyon">lyon: <span class="ok">holds<\/span><\/li>/);
    assert.match(broadRow, /<li data-node="boston">boston: <span class="badge warn">fetching<\/span>/);
    assert.match(broadRow, /33\.3% of 3/);
    assert.match(broadRow, /lyon: 1 of 2 compliant · boston: 0 of 1 compliant/);
    assert.doesNotMatch(page.body, /data-ring="pilot" data-package="tool@1\.0"/, 'pilot no longer receives 1.0');
    assert.match(page.body, /hx-trigger="sse:catalog, sse:reports, sse:holdings"/);
    const filtered = await text(`${base}/ui/rings?ring=broad&q=too`, { cookie });
    assert.match(filtered.body, /data-ring="broad" data-package="tool@1\.0"/);
    assert.doesNotMatch(filtered.body, /data-package="tool@1\.1"|data-package="notes@1"/);
    assert.equal((await text(`${base}/ui/rings?ring=nowhere`, { cookie })).status, 400);
    // The package page says, ring by ring, what its machines receive.
    const pkg = await text(`${base}/ui/packages/tool%401.0`, { cookie });
    assert.match(pkg.body, /<tr data-ring="pilot">[\s\S]*?replaced<\/span> by <a href="\/ui\/packages\/tool%401\.1">tool@1\.1<\/a>/);
    assert.match(pkg.body, /<tr data-ring="broad">[\s\S]*?receives it<\/span><\/td>/);
  });

  it('an approver for pilot is offered pilot only, withdraws pilot\'s approval from the console, and is refused broad on the server', async () => {
    const made = await runCli(['token', 'add', 'pia', '--role', 'approver', '--rings', 'pilot', '--server', base], { env: env() });
    assert.equal(made.code, 0, made.stderr);
    const { cookie, csrf } = await signIn(made.stdout.trim());

    const v10 = await text(`${base}/ui/packages/tool%401.0`, { cookie });
    assert.deepEqual(ringOptions(v10.body), ['choose a ring', 'pilot'], 'the approve form offers the rings of the scope only');
    assert.doesNotMatch(v10.body, /Review decline/, 'declining everywhere would reach broad, outside the scope');
    assert.match(v10.body, /aria-label="Review withdrawing the approval for pilot"/);
    assert.doesNotMatch(v10.body, /withdrawing the approval for broad/);
    // Patch day offers the scope's rings only too.
    await release(base, c.dir, 'patch-a', { ring: null });
    await release(base, c.dir, 'patch-b', { ring: null });
    const list = await text(`${base}/ui/packages?q=patch`, { cookie });
    assert.deepEqual(ringOptions(list.body), ['choose a ring', 'pilot']);
    // Reviews outside the scope are refused before anything is shown.
    assert.equal((await text(`${base}/ui/approvals/confirm?q=patch&ring=broad`, { cookie })).status, 403);
    assert.equal((await text(`${base}/ui/packages/tool%401.0/confirm?action=approve&ring=broad`, { cookie })).status, 403);
    assert.equal((await text(`${base}/ui/packages/tool%401.0/confirm?action=withdraw&ring=broad`, { cookie })).status, 403);
    assert.equal((await text(`${base}/ui/packages/tool%401.0/confirm?action=decline`, { cookie })).status, 403);

    // Withdrawing 1.1 from pilot: the review says pilot goes back to 1.0; its button's call does it.
    const review = await text(`${base}/ui/packages/tool%401.1/confirm?action=withdraw&ring=pilot`, { cookie });
    assert.equal(review.status, 200, review.body);
    assert.match(review.body, /machines of <strong>pilot<\/strong> go back to tool@1\.0/);
    const api = /data-api="([^"]+)"/.exec(review.body)![1]!;
    const body = /data-body='([^']+)'/.exec(review.body)![1]!.replaceAll('&quot;', '"');
    assert.deepEqual(JSON.parse(body), { ring: 'pilot' });
    const post = (url: string, json: string) => request(`${base}${url}`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: json });
    const done = await post(api, body);
    assert.equal(done.statusCode, 200, await done.body.text());
    const state = hq.catalog.state;
    assert.equal(state.get('tool@1.1')!.approvals.has('pilot'), false);
    assert.equal(state.stateFor(state.get('tool@1.0')!, 'pilot'), 'approved', 'pilot falls back to 1.0');
    assert.equal(state.stateFor(state.get('tool@1.0')!, 'broad'), 'approved', 'broad keeps 1.0');

    // The same call for broad, from this person, is refused by the server (403), and changes nothing.
    const seq = hq.catalog.seq;
    const refused = await post(api.replace(encodeURIComponent('tool@1.1'), encodeURIComponent('tool@1.0')), '{"ring":"broad"}');
    assert.equal(refused.statusCode, 403);
    assert.equal(((await refused.body.json()) as { error: { code: string } }).error.code, 'FORBIDDEN_ROLE');
    assert.equal(hq.catalog.seq, seq);
    assert.ok(state.get('tool@1.0')!.approvals.has('broad'));
  });
});
