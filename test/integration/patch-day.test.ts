import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { AptClient } from '../helpers/apt-client.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { TEST_TUNING, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/env.js';

const skip = aptToolsMissing() ?? (spawnSync('apt-get', ['--version']).error ? 'apt-get is not installed' : undefined);

describe('patch day as Debian ships fixes: whole source packages, and each vendor suite apart', { skip }, () => {
  it('approving one binary of a multi-binary source warns; approving the source lets apt-get upgrade all of them', async () => {
    const vendor = new FixtureAptRepo();
    await vendor.listen();
    vendor.addPackage({ name: 'libssl3', version: '3.0.14-1', source: 'openssl' });
    vendor.addPackage({ name: 'openssl', version: '3.0.14-1', depends: 'libssl3 (>= 3.0.14-1)' });
    vendor.addPackage({ name: 'libssl3', version: '3.0.15-1', source: 'openssl' });
    vendor.addPackage({ name: 'openssl', version: '3.0.15-1', depends: 'libssl3 (>= 3.0.15-1)' });
    vendor.publish();
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'ring: pilot' }], ['rings: [pilot]', 'feeds:', `  vendor: { type: apt, url: "${vendor.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${vendor.keyringPath}" }`].join('\n'), undefined, { trust: 'aptKeys: keys/apt' });
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    const keys = path.join(c.dir, 'keys', 'apt');
    assert.equal((await cli('keygen', '--apt', '--out', keys)).code, 0);
    await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys }, TEST_TUNING);
    const branch = await startNode(c.topology, 'branch', c.secrets, TEST_TUNING);
    assert.equal((await cli('feeds', 'sync', 'vendor')).code, 0);

    // The feed's records carry their source; the CLI filters by it on the node.
    let r = await cli('packages', '--source', 'openssl', '--json');
    assert.equal(r.code, 0, r.stderr);
    const bySource = JSON.parse(r.stdout) as { total: number; packages: { id: string; source: { name: string; version: string } }[] };
    assert.deepEqual(bySource.packages.map((p) => `${p.id} ${p.source.name}@${p.source.version}`).sort(), ['libssl3@3.0.14-1 openssl@3.0.14-1', 'libssl3@3.0.15-1 openssl@3.0.15-1', 'openssl@3.0.14-1 openssl@3.0.14-1', 'openssl@3.0.15-1 openssl@3.0.15-1']);
    assert.equal((await cli('approve', '--source', 'openssl@3.0.14-1', '--ring', 'pilot')).code, 0);

    // One binary of the fix: approved, with a warning naming what it leaves unmet and what to do.
    r = await cli('approve', 'openssl@3.0.15-1', '--ring', 'pilot');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: openssl@3\.0\.15-1 needs libssl3 \(>= 3\.0\.15-1\), which is not approved for pilot: approve the source openssl 3\.0\.15-1 \(sluice approve --source openssl@3\.0\.15-1 --ring pilot\)/);
    const listed = async (needle: string) => {
      const res = await request(`${branch.address.url}/apt/pilot/dists/stable/main/binary-amd64/Packages`);
      return res.statusCode === 200 && (await res.body.text()).includes(needle);
    };
    await waitFor('openssl 3.0.15-1 in pilot\'s index at the branch', () => listed('/openssl_3.0.15-1_amd64.deb'), 30_000);
    const source = await cli('apt-source', '--ring', 'pilot', '--server', branch.address.url);
    assert.equal(source.code, 0, source.stderr);
    const machine = new AptClient(tempDir('sluice-apt-client-'), source.stdout, { installed: [{ name: 'libssl3', version: '3.0.14-1' }, { name: 'openssl', version: '3.0.14-1' }] });
    assert.equal((await machine.run('update')).code, 0);
    let upgrade = await machine.run('--simulate', 'upgrade');
    assert.match(upgrade.out, /kept back:\s+openssl/, `apt holds the half-approved fix back:\n${upgrade.out}`);
    assert.doesNotMatch(upgrade.out, /Inst openssl/);

    // A dry run says what the source would add; then the source, in one signed append.
    r = await cli('approve', '--source', 'openssl@3.0.15-1', '--ring', 'pilot', '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /would approve for pilot: libssl3@3\.0\.15-1/);
    assert.match(r.stdout, /not approved: openssl@3\.0\.15-1: ALREADY_APPROVED/);
    r = await cli('approve', '--source', 'openssl@3.0.15-1', '--ring', 'pilot');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /approved for pilot: libssl3@3\.0\.15-1/);
    assert.doesNotMatch(r.stderr, /warning/);
    await waitFor('libssl3 3.0.15-1 in pilot\'s index at the branch', () => listed('/libssl3_3.0.15-1_amd64.deb'), 30_000);
    assert.equal((await machine.run('update')).code, 0);
    upgrade = await machine.run('--simulate', 'upgrade');
    assert.match(upgrade.out, /Inst libssl3 \[3\.0\.14-1\] \(3\.0\.15-1/, upgrade.out);
    assert.match(upgrade.out, /Inst openssl \[3\.0\.14-1\] \(3\.0\.15-1/, upgrade.out);
  });

  it('two feeds of two suites: each suite is its own index per ring, and each suite\'s machines see only their suite', async () => {
    const bookworm = new FixtureAptRepo();
    await bookworm.listen();
    bookworm.addPackage({ name: 'curl', version: '7.88.1-10+deb12u8' });
    bookworm.publish({ suite: 'bookworm-security' });
    const trixie = new FixtureAptRepo();
    await trixie.listen();
    trixie.addPackage({ name: 'curl', version: '8.14.1-2+deb13u1' });
    trixie.publish({ suite: 'trixie-security' });
    const feed = (name: string, repo: FixtureAptRepo, suite: string) => `  ${name}: { type: apt, url: "${repo.url}", suites: [${suite}], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}" }`;
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], ['feeds:', feed('deb12', bookworm, 'bookworm-security'), feed('deb13', trixie, 'trixie-security')].join('\n'), undefined, { trust: 'aptKeys: keys/apt' });
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    const keys = path.join(c.dir, 'keys', 'apt');
    assert.equal((await cli('keygen', '--apt', '--out', keys)).code, 0);
    await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys }, TEST_TUNING);
    const branch = await startNode(c.topology, 'branch', c.secrets, TEST_TUNING);
    assert.equal((await cli('feeds', 'sync')).code, 0);
    assert.equal((await cli('approve', 'curl@7.88.1-10+deb12u8', 'curl@8.14.1-2+deb13u1', '--ring', 'all')).code, 0);
    const index = async (suite: string) => {
      const res = await request(`${branch.address.url}/apt/all/dists/${suite}/main/binary-amd64/Packages`);
      return res.statusCode === 200 ? res.body.text() : (await res.body.dump(), '');
    };
    await waitFor('both suites\' indexes at the branch', async () => (await index('bookworm-security')).includes('deb12u8') && (await index('trixie-security')).includes('deb13u1'), 30_000);
    assert.ok(!(await index('bookworm-security')).includes('deb13u1'), 'no trixie package in bookworm\'s index');
    assert.ok(!(await index('trixie-security')).includes('deb12u8'), 'no bookworm package in trixie\'s index');
    const release = await (await request(`${branch.address.url}/apt/all/dists/bookworm-security/Release`)).body.text();
    assert.match(release, /^Suite: bookworm-security$/m);

    // apt-source needs the machine's suite when the feeds follow several.
    const ambiguous = await cli('apt-source', '--ring', 'all', '--server', branch.address.url);
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /the feeds follow several suites \(bookworm-security, trixie-security\): name the machine's with --suite/);
    for (const [suite, mine, theirs] of [['bookworm-security', '7.88.1-10+deb12u8', '8.14.1-2+deb13u1'], ['trixie-security', '8.14.1-2+deb13u1', '7.88.1-10+deb12u8']] as const) {
      const source = await cli('apt-source', '--ring', 'all', '--server', branch.address.url, '--suite', suite);
      assert.equal(source.code, 0, source.stderr);
      assert.match(source.stdout, new RegExp(`^Suites: ${suite}$`, 'm'));
      const machine = new AptClient(tempDir('sluice-apt-client-'), source.stdout);
      const u = await machine.run('update');
      assert.equal(u.code, 0, u.out);
      const policy = await machine.run('--simulate', 'install', 'curl');
      assert.match(policy.out, new RegExp(`Inst curl \\(${mine.replace(/[.+]/g, '\\$&')}`), policy.out);
      assert.ok(!policy.out.includes(theirs), `a ${suite} machine sees nothing of the other suite`);
    }
  });

  it('two feeds never mix: a source one claims is refused without --feed, and an id another feed took first fails the sync loudly instead of withholding the fix', async () => {
    const debian = new FixtureAptRepo();
    await debian.listen();
    debian.addPackage({ name: 'libssl3', version: '3.0.14-1', source: 'openssl' });
    debian.addPackage({ name: 'openssl', version: '3.0.14-1' });
    debian.publish({ suite: 'bookworm-security' });
    const third = new FixtureAptRepo();
    await third.listen();
    third.addPackage({ name: 'vendor-agent', version: '6.6.6', source: 'openssl (3.0.14-1)' });
    third.addPackage({ name: 'openssl', version: '3.0.15-1' });
    third.publish({ suite: 'stable' });
    const feed = (name: string, repo: FixtureAptRepo, suite: string) => `  ${name}: { type: apt, url: "${repo.url}", suites: [${suite}], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}" }`;
    const c = await makeCluster([{ name: 'hq' }], ['rings: [pilot]', 'feeds:', feed('debian', debian, 'bookworm-security'), feed('thirdparty', third, 'stable')].join('\n'));
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    const hq = await startNode(c.topology, 'hq', c.secrets, TEST_TUNING);
    assert.equal((await cli('feeds', 'sync', 'debian')).code, 0);
    assert.equal((await cli('feeds', 'sync', 'thirdparty')).code, 0);

    // The third party also names openssl as a source: the source alone is ambiguous.
    let r = await cli('approve', '--source', 'openssl@3.0.14-1', '--ring', 'pilot');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /source openssl 3\.0\.14-1 is claimed by feeds (debian and thirdparty|thirdparty and debian); name the vendor whose fix this is with "feed"/);
    r = await cli('approve', '--source', 'openssl@3.0.14-1', '--feed', 'debian', '--ring', 'pilot');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /approved for pilot: libssl3@3\.0\.14-1, openssl@3\.0\.14-1\n/);
    assert.deepEqual([...(hq.catalog.state.get('vendor-agent@6.6.6')?.approvals.keys() ?? [])], []);

    // Debian ships openssl 3.0.15-1, an id the third party took first: the sync says so and fails.
    debian.addPackage({ name: 'libssl3', version: '3.0.15-1', source: 'openssl' });
    debian.addPackage({ name: 'openssl', version: '3.0.15-1' });
    debian.publish({ suite: 'bookworm-security' });
    r = await cli('feeds', 'sync', 'debian');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FEED_CONFLICT.*openssl@3\.0\.15-1 \(from feed thirdparty\).*the 1 other new version\(s\) were/);
    assert.ok(hq.catalog.state.get('libssl3@3.0.15-1'), 'the rest of the feed is in');
    const feeds = await cli('feeds');
    assert.equal(feeds.code, 1, 'sluice feeds fails while a conflict stands');
    assert.match(feeds.stderr, /FEED_CONFLICT/);
  });
});
