import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { FixtureRpmRepo, rpmToolsMissing } from '../helpers/rpm-repo.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { consolePage, consoleSignIn } from '../helpers/console-session.js';
import { adminPost } from '../helpers/publish.js';

/** What the review's button posts (its data-body), as the console's script sends it. */
const reviewBody = (html: string) => /data-body='([^']+)'/.exec(html)?.[1]?.replaceAll('&quot;', '"');

async function approveAsConsole(base: string, session: { cookie: string; csrf: string }, body: string) {
  const res = await request(`${base}/v1/approvals`, { method: 'POST', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' }, body });
  return { status: res.statusCode, json: (await res.body.json()) as { approved: string[] } };
}

describe('the console approves patch day\'s unit: a source version, an advisory', () => {
  it('a package page links its source version; the list filtered to it reviews every binary with the dependency warnings and approves them in one step', { skip: aptToolsMissing() }, async () => {
    const vendor = new FixtureAptRepo();
    await vendor.listen();
    vendor.addPackage({ name: 'libssl3', version: '3.0.15-1', source: 'openssl' });
    vendor.addPackage({ name: 'openssl', version: '3.0.15-1', depends: 'libssl3 (>= 3.0.15-1)' });
    vendor.addPackage({ name: 'unrelated', version: '1.0' });
    vendor.publish();
    const c = await makeCluster([{ name: 'hq' }], ['rings: [pilot, broad]', 'feeds:', `  vendor: { type: apt, url: "${vendor.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${vendor.keyringPath}" }`].join('\n'));
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = hq.address.url;
    assert.equal((await adminPost(base, '/v1/feeds/vendor/sync', {})).status, 200);
    const session = await consoleSignIn(base, ADMIN_TOKEN);

    const page = await consolePage(`${base}/ui/packages/${encodeURIComponent('libssl3@3.0.15-1')}`, session.cookie);
    assert.match(page.body, /href="\/ui\/packages\?source=openssl%403.0.15-1&amp;feed=vendor">openssl 3.0.15-1</, 'the source version, linked');
    const list = await consolePage(`${base}/ui/packages?source=openssl%403.0.15-1&feed=vendor`, session.cookie);
    assert.match(list.body, /the binaries of source <strong>openssl 3.0.15-1<\/strong>/);
    assert.match(list.body, /libssl3@3\.0\.15-1/);
    assert.doesNotMatch(list.body, /unrelated@1\.0/, 'only the source\'s binaries');
    assert.match(list.body, /Approve source openssl 3\.0\.15-1 \(2 packages\) for ring/);

    // One binary approved alone warns on the package's own review; the source's review lists both, one step.
    const review = await consolePage(`${base}/ui/approvals/confirm?source=openssl%403.0.15-1&feed=vendor&ring=pilot`, session.cookie);
    assert.equal(review.status, 200, review.body);
    assert.match(review.body, /Approve source openssl 3\.0\.15-1 for ring pilot\?/);
    assert.match(review.body, /<strong>libssl3@3\.0\.15-1<\/strong>/);
    assert.match(review.body, /<strong>openssl@3\.0\.15-1<\/strong>/);
    assert.doesNotMatch(review.body, /class="error"/, 'nothing left unmet: both binaries go together');
    const body = reviewBody(review.body)!;
    assert.deepEqual(JSON.parse(body), { source: 'openssl@3.0.15-1', feed: 'vendor', ring: 'pilot' });
    const r = await approveAsConsole(base, session, body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.approved.sort(), ['libssl3@3.0.15-1', 'openssl@3.0.15-1']);
    assert.equal(hq.catalog.state.get('unrelated@1.0')!.approvals.size, 0, 'nothing else approved');
    const again = await consolePage(`${base}/ui/approvals/confirm?source=openssl%403.0.15-1&ring=pilot`, session.cookie);
    assert.match(again.body, /would change nothing for any machine of pilot/);
    assert.match(again.body, /Left as they are: .*ALREADY_APPROVED/);

    // A source without a version is shown, never approved blindly.
    assert.equal((await consolePage(`${base}/ui/approvals/confirm?source=openssl&ring=pilot`, session.cookie)).status, 400);
    assert.equal((await consolePage(`${base}/ui/approvals/confirm?source=nosuch%401&ring=pilot`, session.cookie)).status, 404);
  });

  it('an RPM advisory: the list filtered to it, reviewed and approved for one ring, only for rings the person may approve', { skip: rpmToolsMissing() }, async () => {
    const repo = new FixtureRpmRepo();
    await repo.listen();
    const hello = repo.addPackage({ name: 'hello', version: '1.0-2.el9' }, 'os');
    const docs = repo.addPackage({ name: 'hello-docs', version: '1.0-2.el9', arch: 'noarch' }, 'os');
    repo.addPackage({ name: 'tool', version: '1.0-1.el9' }, 'os');
    repo.publish({ repo: 'os', advisories: [{ id: 'TEST-2024:0007', severity: 'Important', cves: ['CVE-2024-0007'], packages: [hello, docs] }] });
    const c = await makeCluster([{ name: 'hq' }], ['rings: [pilot, broad]', 'feeds:', `  el9: { type: rpm, url: "${repo.url}", architectures: [x86_64], keyring: "${repo.keyringPath}", repos: { el9-os: os } }`].join('\n'));
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const base = hq.address.url;
    assert.equal((await adminPost(base, '/v1/feeds/el9/sync', {})).status, 200);
    const token = await adminPost(base, '/v1/tokens', { name: 'pilot-approver', role: 'approver', rings: ['pilot'] });
    assert.equal(token.status, 201);
    const session = await consoleSignIn(base, token.json.token as string);

    const own = await consolePage(`${base}/ui/packages/${encodeURIComponent('hello@1.0-2.el9')}`, session.cookie);
    assert.match(own.body, /<dt>Advisories<\/dt><dd><a href="\/ui\/packages\?advisory=TEST-2024%3A0007">TEST-2024:0007<\/a>/, 'the package page names its advisory, linked');
    const list = await consolePage(`${base}/ui/packages?advisory=TEST-2024%3A0007`, session.cookie);
    assert.match(list.body, /the packages of advisory <strong>TEST-2024:0007<\/strong>/);
    assert.match(list.body, /hello@1\.0-2\.el9/);
    assert.doesNotMatch(list.body, /tool@1\.0-1\.el9/);
    assert.match(list.body, /Approve advisory TEST-2024:0007 \(2 packages\) for ring <select name="ring" required><option value="">choose a ring<\/option><option>pilot<\/option><\/select>/, 'only the rings this person may approve');
    assert.equal((await consolePage(`${base}/ui/approvals/confirm?advisory=TEST-2024%3A0007&ring=broad`, session.cookie)).status, 403, 'another ring is refused');
    assert.equal((await consolePage(`${base}/ui/packages?advisory=%3Cscript%3E`, session.cookie)).status, 400);

    const review = await consolePage(`${base}/ui/approvals/confirm?advisory=TEST-2024%3A0007&ring=pilot`, session.cookie);
    assert.equal(review.status, 200, review.body);
    const body = reviewBody(review.body)!;
    assert.deepEqual(JSON.parse(body), { advisory: 'TEST-2024:0007', ring: 'pilot' });
    const r = await approveAsConsole(base, session, body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.approved.sort(), ['hello-docs@1.0-2.el9', 'hello@1.0-2.el9']);
    assert.equal(hq.catalog.state.get('tool@1.0-1.el9')!.approvals.size, 0);
  });
});
