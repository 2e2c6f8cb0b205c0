import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { FixtureRpmRepo, resignedBy, rpmToolsMissing } from '../helpers/rpm-repo.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/env.js';
import { metric } from '../helpers/replication.js';

const skip = rpmToolsMissing();

const feedYaml = (name: string, url: string, keyring: string, extra = '') => `  ${name}: { type: rpm, url: "${url}", architectures: [x86_64], keyring: "${keyring}"${extra} }`;

async function primaryWithFeeds(feeds: string[]) {
  const c = await makeCluster([{ name: 'hq' }], ['rings: [pilot, broad]', 'feeds:', ...feeds].join('\n'));
  const hq = await startNode(c.topology, 'hq', c.secrets);
  const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
  return { c, hq, cli };
}

async function sync(cli: (...a: string[]) => ReturnType<typeof runCli>, name: string): Promise<{ ok: boolean; added?: number; listed?: number; stderr: string }> {
  const r = await cli('feeds', 'sync', name, '--json');
  if (r.code !== 0) return { ok: false, stderr: r.stderr };
  const [result] = JSON.parse(r.stdout) as { added: number; listed: number }[];
  return { ok: true, ...result!, stderr: r.stderr };
}

describe('vendor feeds: RPM repositories synced into the catalog at the primary', { skip }, () => {
  it('each NEVRA becomes a package (epochs, noarch, per-repository chains in rpm order, source rpms, advisory severity); gz, xz and zstd repodata; a second sync adds nothing', async () => {
    const repo = new FixtureRpmRepo();
    await repo.listen();
    const hello1 = repo.addPackage({ name: 'hello', version: '1.0-1.el9' }, 'os');
    const hello2 = repo.addPackage({ name: 'hello', version: '1.0-2.el9' }, 'os');
    const docs = repo.addPackage({ name: 'hello-docs', version: '1.0-1.el9', arch: 'noarch' }, 'os');
    repo.addPackage({ name: 'other', version: '1.0-1', arch: 'aarch64' }, 'os');
    const tool = repo.addPackage({ name: 'tool', version: '2:0.9~rc1-1' }, 'extras');
    repo.publish({ repo: 'os', compress: 'xz', advisories: [{ id: 'TEST-2024:0002', severity: 'Critical', cves: ['CVE-2024-0002'], packages: [hello2, docs] }] });
    repo.publish({ repo: 'extras', compress: 'zstd' });
    const { hq, cli } = await primaryWithFeeds([feedYaml('el9', repo.url, repo.keyringPath, ', repos: { el9-os: os, el9-extras: extras }, severity: low')]);

    const first = await sync(cli, 'el9');
    assert.ok(first.ok, first.stderr);
    // (The sync at start may have added them already.)
    assert.equal(first.listed, 4, 'hello 1.0-1 and 1.0-2, hello-docs, tool; not the aarch64 package');
    const state = hq.catalog.state;
    await waitFor('the four in the catalog', () => state.get('hello@1.0-2.el9') && state.get('tool@2:0.9~rc1-1') && state.get('hello-docs@1.0-1.el9') && state.get('hello@1.0-1.el9'));
    assert.equal(state.size, 4);
    const h2 = state.get('hello@1.0-2.el9')!;
    assert.deepEqual(h2.files.map((f) => [f.name, f.platform, f.sha256]), [['hello-1.0-2.el9.x86_64.rpm', 'x86_64', hello2.sha256]]);
    assert.deepEqual({ name: h2.feed!.name, paths: [...h2.feed!.paths] }, { name: 'el9', paths: [`os/${hello2.href}`] });
    assert.equal(h2.severity, 'critical', "an advisory's severity");
    assert.equal(state.get('hello@1.0-1.el9')!.severity, 'low', "the feed's, for a package no advisory names");
    assert.equal(state.get('hello@1.0-1.el9')!.supersededBy, 'hello@1.0-2.el9');
    assert.equal(state.get('hello-docs@1.0-1.el9')!.files[0]!.platform, undefined, 'noarch fits every platform');
    assert.ok(state.get('tool@2:0.9~rc1-1'), 'the epoch is part of the id');
    assert.equal(state.stateOf(h2), 'new', 'nothing replicates until a person approves');
    assert.deepEqual(h2.source, { name: 'hello', version: '1.0-2.el9' });
    assert.ok(hello1.sha256 && tool.sha256 && docs.sha256);

    const again = await sync(cli, 'el9');
    assert.ok(again.ok, again.stderr);
    assert.equal(again.added, 0);
    assert.equal(again.listed, 4);

    // A newer version in the extras repository chains in rpm order (~ sorts first).
    repo.addPackage({ name: 'tool', version: '2:0.9-1' }, 'extras');
    repo.publish({ repo: 'extras', compress: 'gz' });
    const third = await sync(cli, 'el9');
    assert.ok(third.ok, third.stderr);
    assert.equal(third.added, 1);
    assert.equal(state.get('tool@2:0.9~rc1-1')!.supersededBy, 'tool@2:0.9-1');

    // The advisory is the unit of approval: its packages, in one append; packages filters by it.
    const listed = await cli('packages', '--advisory', 'TEST-2024:0002', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual((JSON.parse(listed.stdout) as { packages: { id: string }[] }).packages.map((p) => p.id).sort(), ['hello-docs@1.0-1.el9', 'hello@1.0-2.el9']);
    // An advisory no feed listed is said as such, not "no package matches".
    const typo = await cli('packages', '--advisory', 'TEST-2024:9999');
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /ADVISORY_NOT_FOUND.*no feed listed advisory TEST-2024:9999/);
    const seq = hq.catalog.seq;
    const approved = await cli('approve', '--advisory', 'TEST-2024:0002', '--ring', 'pilot');
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /approved for pilot: .*hello/);
    assert.equal(hq.catalog.seq, seq + 2, 'two approvals, one append');
    assert.ok(state.approvedFor(state.get('hello-docs@1.0-1.el9')!, 'pilot'));
    assert.doesNotMatch(approved.stderr, /warning/, 'the whole advisory: nothing left out');
    // Part of an advisory: approved, with a warning naming the rest and the command that takes it whole.
    const part = await cli('approve', 'hello@1.0-2.el9', '--ring', 'broad');
    assert.equal(part.code, 0, part.stderr);
    assert.match(part.stderr, /warning: hello@1\.0-2\.el9 is one of the 2 packages of advisory TEST-2024:0002; hello-docs@1\.0-1\.el9 is not approved for broad: approve the whole advisory \(sluice approve --advisory TEST-2024:0002 --ring broad\)/);
    const unknown = await cli('approve', '--advisory', 'TEST-2099:9999', '--ring', 'pilot');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /PACKAGE_NOT_FOUND.*no feed listed it/);

    // An endpoint's .repo is read line by line by dnf: nothing the caller passes may add a line (gpgcheck=0).
    for (const args of [['--server', 'https://branch.example:7402/\ngpgcheck=0'], ['--server', 'https://branch.example:7402', '--ca', '/etc/ca.pem\ngpgcheck=0'], ['--server', 'https://branch.example:7402', '--key-dir', '/etc/pki\rgpgcheck=0']]) {
      const refused = await cli('rpm-repo', '--ring', 'pilot', '--keys', '/nonexistent', ...args);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /USAGE.*(no spaces, line breaks or control characters)/);
    }

    // Approved: the primary fetches each .rpm and stores it once its signature verified.
    await waitFor('the approved packages stored at the primary', () => hq.store.has(hello2.sha256) && hq.store.has(docs.sha256), 30_000);
  });

  it('refused, nothing added: a primary.xml a mirror altered; repomd.xml unsigned where the feed requires it, signed by another key, or stripped after it was signed; an older repomd.xml replayed', async () => {
    const repo = new FixtureRpmRepo();
    const other = new FixtureRpmRepo();
    await repo.listen();
    repo.addPackage({ name: 'hello', version: '1.0-1' });
    repo.publish();
    const { hq, cli } = await primaryWithFeeds([feedYaml('vendor', repo.url, repo.keyringPath), feedYaml('strict', repo.url, repo.keyringPath, ', repos: { strict-os: "." }, requireSignedMetadata: true'), feedYaml('wrongkey', repo.url, other.keyringPath, ', repos: { wrong-os: "." }')]);

    const primary = repo.dataPath('primary');
    const good = readFileSync(path.join(repo.dir, primary));
    repo.overrides.set(primary, Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good.at(-1)! ^ 1])]));
    let r = await sync(cli, 'vendor');
    assert.equal(r.ok, false);
    assert.match(r.stderr, /FEED_HASH_MISMATCH/);
    repo.overrides.delete(primary);
    assert.equal(hq.catalog.state.size, 0);

    r = await sync(cli, 'wrongkey');
    assert.match(r.stderr, /FEED_SIGNATURE.*repomd\.xml/);
    r = await sync(cli, 'vendor');
    assert.ok(r.ok, r.stderr);
    assert.equal(r.added, 1);

    // Unsigned from now on: refused where required, and where it was signed before.
    repo.addPackage({ name: 'hello', version: '1.1-1' });
    repo.publish({ unsignedMetadata: true });
    r = await sync(cli, 'strict');
    assert.match(r.stderr, /FEED_SIGNATURE.*requires signed metadata/);
    r = await sync(cli, 'vendor');
    assert.match(r.stderr, /FEED_SIGNATURE.*was signed before/);
    assert.equal(hq.catalog.state.get('hello@1.1-1'), undefined);

    // Signed again: taken. Then an old snapshot replayed, genuinely signed: refused.
    repo.publish();
    r = await sync(cli, 'vendor');
    assert.ok(r.ok, r.stderr);
    assert.ok(hq.catalog.state.get('hello@1.1-1'));
    const repomd = path.join(repo.dir, 'repodata', 'repomd.xml');
    writeFileSync(repomd, readFileSync(repomd, 'utf8').replace(/<timestamp>\d+<\/timestamp>/g, `<timestamp>${Math.floor(Date.now() / 1000) - 3600}</timestamp>`));
    repo.signRepomd();
    r = await sync(cli, 'vendor');
    assert.match(r.stderr, /FEED_ROLLBACK/);
    assert.ok((await metric(hq, 'sluice_feed_sync_failures_total{feed="vendor",code="FEED_SIGNATURE"}')) >= 1);
  });

  it('an .rpm re-signed by another key is refused at the primary: never stored, counted, shown as the transfer\'s error', async () => {
    const repo = new FixtureRpmRepo();
    const other = new FixtureRpmRepo();
    await repo.listen();
    const hello = repo.addPackage({ name: 'hello', version: '1.0-1' });
    // The vendor's metadata is regenerated over a package someone re-signed: its sha256 agrees.
    writeFileSync(hello.file, resignedBy(hello, other));
    repo.publish();
    const { hq, cli } = await primaryWithFeeds([feedYaml('vendor', repo.url, repo.keyringPath)]);
    const r = await sync(cli, 'vendor');
    assert.ok(r.ok, r.stderr);
    assert.equal((await cli('approve', 'hello@1.0-1', '--ring', 'pilot')).code, 0);
    await waitFor('the refusal counted', async () => (await metric(hq, 'sluice_feed_packages_refused_total{feed="vendor",code="FEED_PACKAGE_SIGNATURE"}')) >= 1, 30_000);
    const pkg = hq.catalog.state.get('hello@1.0-1')!;
    assert.equal(hq.store.has(pkg.files[0]!.sha256), false, 'never stored');
    const status = (await (await request(`${hq.address.url}/v1/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { transfers: { peer: string; lastError: { code: string; message: string } | null }[] };
    const t = status.transfers.find((x) => x.peer === 'feed:vendor');
    assert.equal(t?.lastError?.code, 'FEED_PACKAGE_SIGNATURE');
    assert.match(t!.lastError!.message, /not signed by a key of the feed's keyring/);
  });

  it('a node below head office is told why head office does not hold a refused .rpm, not only that it does not', async () => {
    const repo = new FixtureRpmRepo();
    const other = new FixtureRpmRepo();
    await repo.listen();
    const hello = repo.addPackage({ name: 'hello', version: '1.0-1' });
    writeFileSync(hello.file, resignedBy(hello, other));
    // A critical fix: asked of head office on a request of its own, whose answer carries the reason.
    repo.publish({ advisories: [{ id: 'TEST-2024:0009', severity: 'Critical', cves: ['CVE-2024-0009'], packages: [hello] }] });
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', extra: 'ring: pilot' }], ['rings: [pilot, broad]', 'feeds:', feedYaml('vendor', repo.url, repo.keyringPath)].join('\n'));
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    assert.ok((await sync(cli, 'vendor')).ok);
    assert.equal((await cli('approve', 'hello@1.0-1', '--ring', 'pilot')).code, 0);
    const sha = hq.catalog.state.get('hello@1.0-1')!.files[0]!.sha256;
    const transferError = () => (hub.status() as { transfers: { sha256: string; lastError: { code: string; message: string } | null }[] }).transfers.find((t) => t.sha256 === sha)?.lastError;
    const seen = await waitFor('the hub\'s transfer to name head office\'s refusal', () => (/FEED_PACKAGE_SIGNATURE/.test(transferError()?.message ?? '') ? transferError() : undefined), 30_000);
    assert.equal(seen!.code, 'BLOB_NOT_FOUND');
    assert.match(seen!.message, /from hq: the peer does not hold it \(its own transfer of it fails \(FEED_PACKAGE_SIGNATURE: .*not signed by a key of the feed's keyring/);
  });
});
