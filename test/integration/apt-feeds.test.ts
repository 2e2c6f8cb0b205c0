import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SluiceNode } from '../../src/daemon.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/env.js';
import { holdsExactly, metric } from '../helpers/replication.js';

const skip = aptToolsMissing();

const feedYaml = (name: string, url: string, keyring: string, extra = '') => `  ${name}: { type: apt, url: "${url}", suites: [stable], components: [main], architectures: [amd64, arm64], keyring: "${keyring}", severity: important${extra} }`;

async function primaryWithFeeds(feeds: string[]) {
  const c = await makeCluster([{ name: 'hq' }], ['feeds:', ...feeds].join('\n'));
  const hq = await startNode(c.topology, 'hq', c.secrets);
  const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
  return { c, hq, cli };
}

/** Syncs through the CLI; the parsed JSON on success, the CLI's stderr otherwise. */
async function sync(cli: (...a: string[]) => ReturnType<typeof runCli>, name: string): Promise<{ ok: boolean; added?: number; listed?: number; stderr: string }> {
  const r = await cli('feeds', 'sync', name, '--json');
  if (r.code !== 0) return { ok: false, stderr: r.stderr };
  const [result] = JSON.parse(r.stdout) as { added: number; listed: number }[];
  return { ok: true, ...result!, stderr: r.stderr };
}

describe('vendor feeds: an APT repository synced into the catalog at the primary', { skip }, () => {
  it('signed indexes become packages in state new (epochs, arch: all, one file per architecture); a second sync adds nothing; newer versions supersede older ones', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const v1 = repo.addPackage({ name: 'hello', version: '1.0-1' });
    const v1arm = repo.addPackage({ name: 'hello', version: '1.0-1', arch: 'arm64' });
    repo.addPackage({ name: 'docs', version: '2.3+dfsg-1', arch: 'all' });
    repo.publish({ archs: ['amd64', 'arm64'] });
    const { hq, cli } = await primaryWithFeeds([feedYaml('vendor', repo.url, repo.keyringPath)]);

    const first = await sync(cli, 'vendor');
    assert.ok(first.ok, first.stderr);
    await waitFor('both packages in the catalog', () => hq.catalog.state.get('hello@1.0-1') && hq.catalog.state.get('docs@2.3+dfsg-1'));
    const hello = hq.catalog.state.get('hello@1.0-1')!;
    assert.equal(hq.catalog.state.stateOf(hello), 'new', 'nothing replicates until a person approves');
    assert.equal(hello.severity, 'important');
    assert.deepEqual(hello.files.map((f) => [f.platform, f.sha256]).sort(), [['amd64', v1.sha256], ['arm64', v1arm.sha256]]);
    assert.deepEqual({ name: hello.feed?.name, paths: hello.feed?.paths }, { name: 'vendor', paths: [v1.filename, v1arm.filename] });
    const docs = hq.catalog.state.get('docs@2.3+dfsg-1')!;
    assert.equal(docs.files.length, 1, 'an arch: all package listed in both indexes is one file');
    assert.equal(docs.files[0]!.platform, undefined, 'for every platform');
    assert.equal(hq.status().lost.length, 0, 'a feed package not fetched yet is not lost');

    const again = await sync(cli, 'vendor');
    assert.ok(again.ok, again.stderr);
    assert.equal(again.added, 0);

    // A new upstream version with an epoch: added, and it supersedes the older one.
    repo.addPackage({ name: 'hello', version: '1:2.0~rc1-1' });
    repo.publish({ archs: ['amd64', 'arm64'] });
    const third = await sync(cli, 'vendor');
    assert.ok(third.ok, third.stderr);
    assert.equal(third.added, 1);
    const v2 = hq.catalog.state.get('hello@1:2.0~rc1-1');
    assert.ok(v2, 'the epoch is part of the id');
    assert.equal(hq.catalog.state.get('hello@1.0-1')!.supersededBy, 'hello@1:2.0~rc1-1');
    assert.ok((await metric(hq, 'sluice_feed_packages_added_total{feed="vendor"}')) >= 3);

    const list = await cli('feeds', '--json');
    assert.equal(list.code, 0, list.stderr);
    const [row] = JSON.parse(list.stdout) as { name: string; catalogued: number; last: { ok: boolean } }[];
    assert.deepEqual([row!.name, row!.catalogued, row!.last.ok], ['vendor', 3, true]);
  });

  it('a tampered index, a foreign signature, a passed Valid-Until and an older Release each add nothing and say why', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    repo.addPackage({ name: 'base', version: '1' });
    repo.publish({ archs: ['amd64', 'arm64'] });
    const { hq, cli } = await primaryWithFeeds([feedYaml('vendor', repo.url, repo.keyringPath), feedYaml('foreign', repo.url, FixtureAptRepo.otherKeyring())]);
    assert.ok((await sync(cli, 'vendor')).ok);
    const seq = () => hq.catalog.seq;
    const before = seq();

    // A foreign key.
    const foreign = await sync(cli, 'foreign');
    assert.equal(foreign.ok, false);
    assert.match(foreign.stderr, /FEED_SIGNATURE/);

    // A mirror altering the Packages index it serves by hash.
    repo.addPackage({ name: 'evil', version: '1' });
    repo.publish({ archs: ['amd64', 'arm64'] });
    const inRelease = repo.served.length;
    const sawIndex = async () => {
      const r = await sync(cli, 'vendor');
      return r;
    };
    const byHash = await (async () => {
      // Find the by-hash path of the amd64 Packages.xz the new Release names.
      const { readFileSync, readdirSync } = await import('node:fs');
      const dir = `${repo.dir}/dists/stable/main/binary-amd64/by-hash/SHA256`;
      const xz = readFileSync(`${repo.dir}/dists/stable/main/binary-amd64/Packages.xz`);
      const hex = readdirSync(dir).find((h) => readFileSync(`${dir}/${h}`).equals(xz))!;
      return { path: `/dists/stable/main/binary-amd64/by-hash/SHA256/${hex}`, xz };
    })();
    const altered = Buffer.from(byHash.xz);
    altered[altered.length - 20] = altered[altered.length - 20]! ^ 0xff;
    repo.overrides.set(byHash.path, altered);
    const tampered = await sawIndex();
    assert.equal(tampered.ok, false);
    assert.match(tampered.stderr, /FEED_HASH_MISMATCH/);
    assert.ok(repo.served.slice(inRelease).includes(byHash.path), 'fetched by hash');
    repo.overrides.delete(byHash.path);
    assert.equal(seq(), before, 'nothing added');
    assert.equal(hq.catalog.state.get('evil@1'), undefined);

    // A snapshot whose Valid-Until has passed.
    repo.publish({ archs: ['amd64', 'arm64'], validSeconds: 1 });
    const validUntil = Date.now() + 1000;
    await waitFor('the Valid-Until to pass', () => Date.now() > validUntil + 1100, 5000, 50);
    const stale = await sync(cli, 'vendor');
    assert.equal(stale.ok, false);
    assert.match(stale.stderr, /FEED_STALE/);
    assert.equal(seq(), before);

    // A genuine, current snapshot is taken; then one dated earlier is refused as a rollback.
    repo.publish({ archs: ['amd64', 'arm64'] });
    const ok = await sync(cli, 'vendor');
    assert.ok(ok.ok, ok.stderr);
    assert.ok(hq.catalog.state.get('evil@1'));
    repo.publish({ archs: ['amd64', 'arm64'], date: new Date(Date.now() - 86_400_000) });
    const rollback = await sync(cli, 'vendor');
    assert.equal(rollback.ok, false);
    assert.match(rollback.stderr, /FEED_ROLLBACK/);
    assert.ok((await metric(hq, 'sluice_feed_sync_failures_total{feed="vendor",code="FEED_ROLLBACK"}')) >= 1);
    const listed = JSON.parse((await cli('feeds', '--json')).stdout) as { name: string; last: { ok: boolean; error: { code: string } } }[];
    assert.equal(listed.find((f) => f.name === 'vendor')!.last.error.code, 'FEED_ROLLBACK');
  });

  it('a Release without Valid-Until older than the feed\'s maxAge (7d unless set) is FEED_STALE and says why; a longer maxAge takes it; with a Valid-Until, the Valid-Until governs', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    repo.addPackage({ name: 'frozen', version: '1' });
    const eightDaysAgo = new Date(Date.now() - 8 * 86_400_000);
    repo.publish({ archs: ['amd64', 'arm64'], validSeconds: null, date: eightDaysAgo });
    const { hq, cli } = await primaryWithFeeds([feedYaml('vendor', repo.url, repo.keyringPath), feedYaml('patient', repo.url, repo.keyringPath, ', maxAge: 120d'), feedYaml('governed', repo.url, repo.keyringPath)]);

    // A mirror frozen on a snapshot of eight days ago, which nothing in it says is outdated.
    const frozen = await sync(cli, 'vendor');
    assert.equal(frozen.ok, false);
    assert.match(frozen.stderr, /FEED_STALE/);
    assert.match(frozen.stderr, /has no Valid-Until and is dated .* older than the feed's maxAge \(7d\): a mirror may be frozen on an old snapshot/);
    assert.match(frozen.stderr, /Debian's bookworm has no Valid-Until .* needs a longer maxAge, such as 120d/);
    assert.ok((await metric(hq, 'sluice_feed_sync_failures_total{feed="vendor",code="FEED_STALE"}')) >= 1);
    // A suite that changes rarely, followed with a longer maxAge (it synced at start too).
    const patient = await sync(cli, 'patient');
    assert.ok(patient.ok, patient.stderr);
    assert.equal(hq.catalog.state.get('frozen@1')?.feed?.name, 'patient', 'taken by the patient feed, never by the other');

    // A current Release without Valid-Until is taken with the default.
    repo.addPackage({ name: 'fresh', version: '1' });
    repo.publish({ archs: ['amd64', 'arm64'], validSeconds: null });
    const fresh = await sync(cli, 'vendor');
    assert.ok(fresh.ok, fresh.stderr);
    assert.ok(hq.catalog.state.get('fresh@1'));
    // Eight days old with a Valid-Until still ahead: the Valid-Until governs, not maxAge.
    repo.publish({ archs: ['amd64', 'arm64'], date: eightDaysAgo, validSeconds: 9 * 86_400 });
    const governed = await sync(cli, 'governed');
    assert.ok(governed.ok, governed.stderr);
  });

  it('content follows approval: the primary fetches the approved version from the vendor, verified, and the tree replicates it; altered bytes are refused and retried', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const one = repo.addPackage({ name: 'hello', version: '1.0-1' });
    const other = repo.addPackage({ name: 'other', version: '3' });
    repo.publish({ archs: ['amd64'] });
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], ['feeds:', feedYaml('vendor', repo.url, repo.keyringPath).replace('[amd64, arm64]', '[amd64]')].join('\n'));
    // The slow vendor below holds half a file back for 2 s: the stall watchdog must be longer,
    // or a loaded machine sees a stall (and a retry) instead of a slow file relayed.
    const hq = await startNode(c.topology, 'hq', c.secrets, { stallMs: 10_000 });
    const branch = await startNode(c.topology, 'branch', c.secrets, { stallMs: 10_000 });
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    assert.ok((await sync(cli, 'vendor')).ok);
    await waitFor('the feed\'s packages in the catalog', () => hq.catalog.state.get('hello@1.0-1'));
    assert.equal(repo.served.filter((p) => p.startsWith('/pool/')).length, 0, 'nothing fetched before approval');
    assert.equal(hq.store.has(one.sha256), false);

    assert.equal((await cli('approve', 'hello@1.0-1', '--ring', 'all')).code, 0);
    await waitFor('the branch to hold the vendor\'s file', () => branch.store.has(one.sha256), 30_000);
    assert.ok(holdsExactly(branch, one.bytes), 'the very bytes the vendor signed for');
    assert.equal(hq.store.has(other.sha256), false, 'an unapproved version is not fetched');

    // A mirror altering the file: hashed against the signed record, refused, retried.
    const altered = Buffer.from(other.bytes);
    altered[100] = altered[100]! ^ 0xff;
    repo.overrides.set(`/${other.filename}`, altered);
    assert.equal((await cli('approve', 'other@3', '--ring', 'all')).code, 0);
    const shown = await waitFor('the failed fetch in the primary\'s status', () => hq.status().transfers.find((t) => t.sha256 === other.sha256 && t.lastError));
    assert.equal(shown.lastError!.code, 'HASH_MISMATCH');
    assert.equal(shown.peer, 'feed:vendor');
    assert.equal(hq.store.has(other.sha256), false);
    repo.overrides.delete(`/${other.filename}`);
    await waitFor('the retry to fetch the genuine file', () => branch.store.has(other.sha256), 30_000);

    // A large file arriving slowly from the vendor is relayed down while it arrives: the
    // branch asks while the primary is still fetching, and is served, not refused.
    const big = repo.addPackage({ name: 'bigpkg', version: '1', payloadBytes: 512 * 1024 });
    repo.publish({ archs: ['amd64'] });
    assert.ok((await sync(cli, 'vendor')).ok);
    repo.slow.set(`/${big.filename}`, 2000);
    const retriesBefore = await metric(branch, 'sluice_transfer_retries_total');
    assert.equal((await cli('approve', 'bigpkg@1', '--ring', 'all')).code, 0);
    await waitFor('the branch to hold the slow file', () => branch.store.has(big.sha256), 30_000);
    assert.ok(holdsExactly(branch, big.bytes));
    assert.equal(await metric(branch, 'sluice_transfer_retries_total'), retriesBefore, 'relayed while it arrived: no 404, no retry');
  });

  it('vendor fetches keep to the primary\'s own schedule: a closed window holds them (paused)', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const routine = repo.addPackage({ name: 'routine', version: '1', payloadBytes: 64 * 1024 });
    repo.publish({ archs: ['amd64'] });
    const c = await makeCluster(
      [{ name: 'hq', extra: 'region: closed' }],
      ['feeds:', feedYaml('vendor', repo.url, repo.keyringPath).replace('[amd64, arm64]', '[amd64]')].join('\n'),
      ['  closed: { timezone: UTC, schedule: [ { rate: paused } ], critical: bypass, sync: { every: 10m, jitter: 0s } }'],
    );
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    assert.ok((await sync(cli, 'vendor')).ok);
    assert.equal((await cli('approve', 'routine@1', '--ring', 'all')).code, 0);
    const held = await waitFor('the routine fetch held by the closed window', () => hq.status().transfers.find((t) => t.sha256 === routine.sha256 && t.state === 'paused'));
    assert.equal(held.peer, 'feed:vendor');
    assert.equal(hq.store.has(routine.sha256), false);
    assert.equal(repo.served.filter((p) => p.endsWith('.deb')).length, 0, 'nothing taken from the vendor while the window is closed');
  });

  it('sluice check locates a feed\'s mistakes', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const { appendFileSync } = await import('node:fs');
    appendFileSync(c.file, ['feeds:', '  bad: { type: yum, url: "ftp://x", suites: [], components: [main], architectures: [amd64], keyring: k.gpg, download: sometimes }', ''].join('\n'));
    const r = await runCli(['check', '-t', c.file]);
    assert.notEqual(r.code, 0);
    for (const where of ['feeds.bad.type', 'feeds.bad.url', 'feeds.bad.suites', 'feeds.bad.download']) assert.match(r.stderr, new RegExp(where.replaceAll('.', '\\.')), r.stderr);
  });
});

export type { SluiceNode };
