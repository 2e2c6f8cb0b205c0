import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/env.js';

const skip = aptToolsMissing();

const feed = (name: string, url: string, keyring: string, extra = '') => `  ${name}: { type: apt, url: "${url}", suites: [stable], components: [main], architectures: [amd64]${extra}, keyring: "${keyring}" }`;

/** A keyring of one key made `yearsAgo` and expired a day later, or one revoked by its owner. */
async function unusableKeyring(dir: string, kind: 'expired' | 'revoked'): Promise<string> {
  const date = new Date(Date.now() - 3 * 365 * 86_400_000);
  const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: `Vendor key (${kind})` }], format: 'object', ...(kind === 'expired' ? { date, keyExpirationTime: 86_400 } : {}) });
  const key = kind === 'revoked' ? (await openpgp.revokeKey({ key: privateKey, format: 'object' })).publicKey : publicKey;
  const file = path.join(dir, `${kind}.gpg`);
  writeFileSync(file, key.write());
  return file;
}

describe('feeds checked before they run: sluice check opens each keyring and validates each feed without the network; sluice feeds fails with a failing feed', { skip }, () => {
  it('a missing, garbage, directory, expired or revoked keyring is an error located at feeds.F.keyring; a vendor\'s real keyring passes with its fingerprint; nothing is fetched', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const dir = tempDir('sluice-keyrings-');
    const garbage = path.join(dir, 'garbage.gpg');
    writeFileSync(garbage, 'this is not an OpenPGP keyring\n'.repeat(20));
    const folder = path.join(dir, 'a-directory');
    mkdirSync(folder);
    const expired = await unusableKeyring(dir, 'expired');
    const revoked = await unusableKeyring(dir, 'revoked');
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'branch', upstream: 'hq' }],
      ['feeds:', feed('vendor', repo.url, repo.keyringPath), feed('missing', repo.url, path.join(dir, 'no-such.gpg')), feed('garbage', repo.url, garbage), feed('folder', repo.url, folder), feed('expired', repo.url, expired), feed('revoked', repo.url, revoked)].join('\n'),
    );
    const r = await runCli(['check', '-t', c.file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /error TOPOLOGY_INVALID: .*topology\.yaml: 5 errors/);
    // makeCluster writes version, primary, trust, then feeds: each feed on its own line from line 5.
    const line = (name: string) => new RegExp(`topology\\.yaml:(\\d+):\\d+ feeds\\.${name}\\.keyring: (.*)`).exec(r.stderr);
    assert.equal(line('vendor'), null, 'the vendor\'s real keyring is no error');
    assert.deepEqual(line('missing')?.slice(1), ['6', `cannot read the keyring ${path.join(dir, 'no-such.gpg')} (no such file); install the vendor's keyring (Debian: apt-get install debian-archive-keyring, then /usr/share/keyrings/debian-archive-keyring.gpg) or point "keyring" at the file of its public keys`]);
    assert.match(line('garbage')?.[0] ?? '', /:7:\d+ feeds\.garbage\.keyring: .*garbage\.gpg holds no OpenPGP public key Sluice can read/);
    assert.match(line('folder')?.[0] ?? '', /:8:\d+ feeds\.folder\.keyring: the keyring .*a-directory is not a file/);
    assert.match(line('expired')?.[0] ?? '', /:9:\d+ feeds\.expired\.keyring: the keyring .*expired\.gpg holds no key that can verify a signature today \(1 key: [0-9A-F]{40} Vendor key \(expired\): expired on \d{4}-\d\d-\d\d\)/);
    assert.match(line('revoked')?.[0] ?? '', /:10:\d+ feeds\.revoked\.keyring: the keyring .*revoked\.gpg holds no key that can verify a signature today \(1 key: [0-9A-F]{40} Vendor key \(revoked\): revoked\)/);
    assert.deepEqual(repo.served, [], 'sluice check reaches no network');

    // On another node's host the keyrings are not read (only the primary reads them): the
    // same topology passes there, and says so.
    const atBranch = await runCli(['check', '--node', 'branch', '-t', c.file]);
    assert.equal(atBranch.code, 0, atBranch.stderr);
    assert.match(atBranch.stdout, /keyring .*no-such\.gpg: not opened \(only the primary, hq, reads it\)/);

    // The vendor's keyring alone: ok, and the key a person compares with the vendor's is shown.
    const good = await makeCluster([{ name: 'hq' }], ['feeds:', feed('vendor', repo.url, repo.keyringPath)].join('\n'));
    const ok = await runCli(['check', '-t', good.file]);
    assert.equal(ok.code, 0, ok.stderr);
    const fingerprint = (await openpgp.readKey({ binaryKey: (await import('node:fs')).readFileSync(repo.keyringPath) })).getFingerprint().toUpperCase();
    assert.match(ok.stdout, new RegExp(`vendor  ${repo.url.replace(/[.]/g, '\\.')}  suites stable  components main  architectures amd64\\n    keyring .*vendor\\.gpg: 1 usable key\\n      ${fingerprint}  Sluice Test Archive <archive@example\\.invalid>`));
    assert.doesNotMatch(ok.stderr, /warning: .*feeds\./);
    // A keyring anyone may write: whoever writes it decides whose packages are accepted.
    chmodSync(repo.keyringPath, 0o666);
    const writable = await runCli(['check', '-t', good.file]);
    assert.equal(writable.code, 0, writable.stderr);
    assert.match(writable.stderr, /warning: .*topology\.yaml:5:\d+ feeds\.vendor\.keyring: the keyring .*vendor\.gpg is writable by every user/);
    assert.deepEqual(repo.served, []);
  });

  it('a URL that cannot be a repository\'s base, a suite listed twice, a mirror polled every few seconds are located errors; an unknown architecture, a whole archive downloaded are warnings', async () => {
    const repo = new FixtureAptRepo();
    const url = 'http://127.0.0.1:9';
    const c = await makeCluster(
      [{ name: 'hq' }],
      [
        'feeds:',
        feed('secret', 'http://user:hunter2@mirror.example.net/debian', repo.keyringPath),
        feed('query', `${url}/debian?dist=1`, repo.keyringPath),
        feed('dists', `${url}/debian/dists/bookworm-security`, repo.keyringPath),
        feed('twice', `${url}/twice`, repo.keyringPath).replace('suites: [stable]', 'suites: [stable, testing, stable]'),
        feed('hammer', `${url}/hammer`, repo.keyringPath, ', every: 10s'),
        feed('typo', `${url}/typo`, repo.keyringPath).replace('[amd64]', '[amd46, all]'),
        feed('everything', `${url}/everything`, repo.keyringPath, ', download: all, every: 7d'),
      ].join('\n'),
    );
    const r = await runCli(['check', '-t', c.file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const errors = r.stderr.split('\n').filter((l) => /^ {2}\S+topology\.yaml:\d+:\d+ /.test(l));
    assert.deepEqual(
      errors.map((l) => /topology\.yaml:(\d+):\d+ (\S+):/.exec(l)!.slice(1).join(' ')),
      ['5 feeds.secret.url', '6 feeds.query.url', '7 feeds.dists.url', '8 feeds.twice.suites[2]', '9 feeds.hammer.every'],
      r.stderr,
    );
    assert.match(r.stderr, /feeds\.secret\.url: the URL holds credentials: the topology is on every site and holds no secrets/);
    assert.doesNotMatch(r.stderr, /hunter2/, 'the password is not repeated');
    assert.match(r.stderr, /feeds\.query\.url: the URL has a query: .*remove "\?dist=1"/);
    assert.match(r.stderr, /feeds\.dists\.url: the URL points into the repository's dists\/: expected its base, .*\(e\.g\. "http:\/\/127\.0\.0\.1:9\/debian"\)/);
    assert.match(r.stderr, /feeds\.twice\.suites\[2\]: suite "stable" is listed twice/);
    assert.match(r.stderr, /feeds\.hammer\.every: syncing every 10s polls the vendor's mirror for nothing.*expected 1m or more/);
    // Warnings are printed once the errors are fixed: the same feeds without the erroneous ones.
    const fixed = await makeCluster([{ name: 'hq' }], ['feeds:', feed('typo', `${url}/typo`, repo.keyringPath).replace('[amd64]', '[amd46, all]'), feed('everything', `${url}/everything`, repo.keyringPath, ', download: all, every: 7d')].join('\n'));
    const w = await runCli(['check', '-t', fixed.file]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stderr, /warning: .*topology\.yaml:5:\d+ feeds\.typo\.architectures\[0\]: "amd46" is not an architecture of Debian's or Ubuntu's archives \(did you mean "amd64"\?\)/);
    assert.match(w.stderr, /warning: .*topology\.yaml:5:\d+ feeds\.typo\.architectures\[1\]: "all" is not a machine's architecture/);
    assert.match(w.stderr, /warning: .*topology\.yaml:6:\d+ feeds\.everything\.download: download: all without "packages" fetches every version/);
    assert.match(w.stderr, /warning: .*topology\.yaml:6:\d+ feeds\.everything\.every: syncing every 7d: a fix the vendor publishes reaches the catalog up to that late/);
  });

  it('an RPM feed: a URL or repository path into repodata/ is a located error, and a missing keyring says where RPM vendors ship theirs', async () => {
    const repo = new FixtureAptRepo();
    const c = await makeCluster(
      [{ name: 'hq' }],
      [
        'feeds:',
        `  el9: { type: rpm, url: "http://127.0.0.1:9/el9/repodata", architectures: [x86_64], keyring: "${repo.keyringPath}" }`,
        `  el9b: { type: rpm, url: "http://127.0.0.1:9/el9b", repos: { os: BaseOS/x86_64/os/repodata }, architectures: [x86_64], keyring: "${repo.keyringPath}" }`,
        `  el9c: { type: rpm, url: "http://127.0.0.1:9/el9c", architectures: [x86_64], keyring: "missing/RPM-GPG-KEY-vendor" }`,
      ].join('\n'),
    );
    const r = await runCli(['check', '-t', c.file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /topology\.yaml:5:\d+ feeds\.el9\.url: the URL points into the repository's repodata\/: expected the directory that holds repodata\/ \(e\.g\. "http:\/\/127\.0\.0\.1:9\/el9"\)/);
    assert.match(r.stderr, /topology\.yaml:6:\d+ feeds\.el9b\.repos\.os: the path points into the repository's repodata\/: expected the directory that holds repodata\/ \(e\.g\. "BaseOS\/x86_64\/os"\)/);
    assert.match(r.stderr, /feeds\.el9c\.keyring: cannot read the keyring .*RPM-GPG-KEY-\*/);
    assert.doesNotMatch(r.stderr, /feeds\.el9c\.keyring: .*debian-archive-keyring/, 'no Debian advice for an RPM feed');
  });

  it('sluice feeds exits 1 when a feed\'s last sync failed, in text and --json, naming the feed and the reason; a healthy feed is not blamed', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    repo.addPackage({ name: 'hello', version: '1.0-1' });
    repo.publish();
    const c = await makeCluster([{ name: 'hq' }], ['feeds:', feed('vendor', repo.url, repo.keyringPath), feed('foreign', repo.url, FixtureAptRepo.otherKeyring())].join('\n'));
    await startNode(c.topology, 'hq', c.secrets);
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    // The primary syncs each feed as it starts; wait for both outcomes.
    await waitFor('both feeds synced once', async () => {
      const rows = JSON.parse((await cli('feeds', '--json')).stdout) as { last: unknown }[];
      return rows.length === 2 && rows.every((f) => f.last);
    }, 30_000, 200);

    const text = await cli('feeds');
    assert.equal(text.code, 1, text.stdout + text.stderr);
    assert.match(text.stdout, /foreign .*\n.*\n {2}last sync: FAILED at .*FEED_SIGNATURE/);
    assert.match(text.stderr, /^error FEED_SIGNATURE: feed foreign: its last sync, at \S+, failed: InRelease is not signed by a key of the feed's keyring .*\(last success never\); once fixed, "sluice feeds sync foreign" syncs it now$/m);
    assert.doesNotMatch(text.stderr, /feed vendor/, 'the healthy feed is not blamed');

    const json = await cli('feeds', '--json');
    assert.equal(json.code, 1);
    const rows = JSON.parse(json.stdout) as { name: string; last: { ok: boolean; error: { code: string } | null } }[];
    assert.deepEqual(rows.map((f) => [f.name, f.last.ok, f.last.error?.code ?? null]), [['vendor', true, null], ['foreign', false, 'FEED_SIGNATURE']]);
    assert.match(json.stderr, /error FEED_SIGNATURE: feed foreign/);
  });
});
