import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { generateKeyPair } from '../../src/catalog/keys.js';
import { ADMIN_TOKEN, makeCluster } from '../helpers/cluster.js';
import { exited, runCli, spawnCli } from '../helpers/cli.js';
import { REPO_ROOT, freePorts, onTeardown, tempDir, waitFor } from '../helpers/env.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/topologies');

async function readyz(url: string, caFile?: string): Promise<boolean> {
  try {
    const res = await request(`${url}/readyz`, caFile ? { dispatcher: new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } }) } : {});
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

/** The shipped topology as a fresh clone holds it: with the demo feed's keyring, without keys. */
function freshClone(): string {
  const dir = tempDir();
  copyFileSync(path.join(REPO_ROOT, 'topology.yaml'), path.join(dir, 'topology.yaml'));
  mkdirSync(path.join(dir, 'assets/demo-feed'), { recursive: true });
  copyFileSync(path.join(REPO_ROOT, 'assets/demo-feed/vendor.gpg'), path.join(dir, 'assets/demo-feed/vendor.gpg'));
  return dir;
}

describe('sluice check', () => {
  it('passes on the shipped topology in a fresh clone (no keys yet): prints the tree, warns how to create the key', async () => {
    const dir = freshClone();
    const r = await runCli(['check'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hq {2}\(primary\)/);
    assert.match(r.stdout, /└── /);
    assert.match(r.stderr, /warning: trust\.catalogKey keys\/catalog\.pub does not exist yet; create the pair with "sluice keygen --out keys"/);
  });

  it('lists every error at once with file:line:col and exits 1', async () => {
    const file = path.join(FIXTURES, 'region-errors.yaml');
    const r = await runCli(['check', '-t', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error TOPOLOGY_INVALID: .*region-errors\.yaml: 9 errors/);
    assert.equal(r.stderr.split('\n').filter((l) => l.includes('region-errors.yaml:')).length, 10);
  });

  it('a public key that is not an Ed25519 key is an error, not a warning', async () => {
    const dir = freshClone();
    mkdirSync(path.join(dir, 'keys'));
    writeFileSync(path.join(dir, 'keys/catalog.pub'), 'not a key');
    const r = await runCli(['check', '-t', path.join(dir, 'topology.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KEY_INVALID/);
  });
});

describe('sluice keygen', () => {
  it('writes catalog.key (0600) and catalog.pub, and refuses to overwrite without --force', async () => {
    const dir = path.join(tempDir(), 'keys');
    const r = await runCli(['keygen', '--out', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(path.join(dir, 'catalog.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(path.join(dir, 'catalog.pub'), 'utf8'), /BEGIN PUBLIC KEY/);
    const before = readFileSync(path.join(dir, 'catalog.key'));
    const again = await runCli(['keygen', '--out', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refusing to overwrite.*--force/);
    assert.ok(readFileSync(path.join(dir, 'catalog.key')).equals(before));
    assert.equal((await runCli(['keygen', '--out', dir, '--force'])).code, 0);
    assert.ok(!readFileSync(path.join(dir, 'catalog.key')).equals(before));
  });
});

describe('usage errors exit 2', () => {
  for (const args of [['frobnicate'], ['serve'], ['approve'], ['check', '--bogus'], ['publish', 'f', '--name', 'x']]) {
    it(`sluice ${args.join(' ')}`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.length > 0);
    });
  }

  it('--version prints the version (exit 0), and publish --version is the package version', async () => {
    const v = await runCli(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const r = await runCli(['publish', '/nonexistent/file', '--name', 'x', '--version', '1', '--server', 'http://127.0.0.1:9']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FILE_NOT_READABLE.*\/nonexistent\/file/);
  });
});

describe('sluice serve', () => {
  it('refuses an invalid topology with the same located messages as check', async () => {
    const file = path.join(FIXTURES, 'upstream-errors.yaml');
    const r = await runCli(['serve', '--node', 'hq', '-t', file]);
    assert.equal(r.code, 1);
    const check = await runCli(['check', '-t', file]);
    assert.equal(r.stderr, check.stderr);
  });

  it('refuses to start without the public key, without the signing key, with a mismatched one, or for an unknown node', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const noSigning = await runCli(['serve', '--node', 'hq', '-t', c.file], { env: { SLUICE_SIGNING_KEY: '', SLUICE_ADMIN_TOKEN: c.env.SLUICE_ADMIN_TOKEN } });
    assert.equal(noSigning.code, 1);
    assert.match(noSigning.stderr, /KEY_MISSING.*SLUICE_SIGNING_KEY/);
    const other = generateKeyPair(path.join(tempDir(), 'other'));
    const mismatch = await runCli(['serve', '--node', 'hq', '-t', c.file], { env: { ...c.env, SLUICE_SIGNING_KEY: other.privatePath } });
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /KEY_MISMATCH/);
    const unknown = await runCli(['serve', '--node', 'nowhere', '-t', c.file], { env: c.env });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /UNKNOWN_NODE.*expected one of: hq/);
    (await import('node:fs')).rmSync(c.topology.trust.catalogKeyPath);
    const noPub = await runCli(['serve', '--node', 'hq', '-t', c.file], { env: c.env });
    assert.equal(noPub.code, 1);
    assert.match(noPub.stderr, /KEY_MISSING.*sluice keygen/);
  });

  it('serves until SIGTERM, then drains and exits 0; a second process on the same data directory fails fast', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const url = c.topology.nodes.get('hq')!.url;
    const child = spawnCli(['serve', '--node', 'hq', '-t', c.file], { env: c.env });
    onTeardown(() => child.kill('SIGKILL'));
    await waitFor('hq ready', () => readyz(url));
    const second = await runCli(['serve', '--node', 'hq', '-t', c.file], { env: c.env });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /DATA_DIR_LOCKED.*another Sluice process/);
    assert.ok(await readyz(url), 'the first node is unaffected');
    child.kill('SIGTERM');
    assert.deepEqual(await exited(child), { code: 0, signal: null });
    assert.match(child.output(), /"msg":"stopped"/);
  });
});

describe('publish, approve, packages from the command line', () => {
  it('a full admin session against a served primary', async () => {
    const c = await makeCluster([{ name: 'hq' }], 'rings: [pilot]');
    const url = c.topology.nodes.get('hq')!.url;
    const child = spawnCli(['serve', '--node', 'hq', '-t', c.file], { env: c.env });
    onTeardown(() => child.kill('SIGKILL'));
    await waitFor('hq ready', () => readyz(url));
    const file = path.join(c.dir, 'tool.tar.gz');
    writeFileSync(file, randomBytes(100_000));
    const pub = await runCli(['publish', file, '--name', 'tool', '--version', '1.2.3', '--severity', 'critical', '-t', c.file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(pub.stdout, /published tool@1\.2\.3 \(1 file, 97\.7 KiB\); approve it with: sluice approve tool@1\.2\.3/);
    const noToken = await runCli(['approve', 'tool@1.2.3', '-t', c.file], { env: { SLUICE_TOKEN: '' } });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /UNAUTHORIZED.*SLUICE_TOKEN/);
    const ok = await runCli(['approve', 'tool@1.2.3', '--ring', 'pilot', '-t', c.file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), 'tool@1.2.3: approved(pilot)');
    const list = await runCli(['packages', '--server', url]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /tool@1\.2\.3\s+critical\s+approved\(pilot\)\s+97\.7 KiB/);
    const json = await runCli(['packages', '--json', '-t', c.file]);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.packages[0].state, 'approved');
    const down = await runCli(['packages', '--server', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /SERVER_UNREACHABLE.*is the node running/);
    child.kill('SIGTERM');
    assert.equal((await exited(child)).code, 0);
  });
});

describe('sluice up (npm start)', () => {
  it('on a fresh copy of the shipped topology: creates keys and a demo token, brings every node to /readyz 200, exits 0 on SIGTERM', async () => {
    const dir = tempDir();
    const ports = await freePorts(4);
    // Same file, other ports, so the test never collides with a running demo.
    let yaml = readFileSync(path.join(REPO_ROOT, 'topology.yaml'), 'utf8');
    [7400, 7401, 7402, 7403].forEach((p, i) => (yaml = yaml.replaceAll(`127.0.0.1:${p}`, `127.0.0.1:${ports[i]}`)));
    writeFileSync(path.join(dir, 'topology.yaml'), yaml);
    const child = spawnCli(['up'], { cwd: dir, env: { SLUICE_ADMIN_TOKEN: '', SLUICE_SIGNING_KEY: '', SLUICE_SECRETS_FILE: '' } });
    onTeardown(() => child.kill('SIGKILL'));
    for (const p of ports) {
      await waitFor(`node on ${p} ready`, async () => {
        if (child.exitCode !== null) throw new Error(`sluice up exited: ${child.output()}`);
        return readyz(`https://127.0.0.1:${p}`, path.join(dir, 'keys/ca.pem'));
      }, 30_000);
    }
    assert.ok(existsSync(path.join(dir, 'keys/catalog.key')));
    assert.equal(statSync(path.join(dir, 'keys/ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dir, 'keys/nodes/lyon.key')).mode & 0o777, 0o600);
    const ca = readFileSync(path.join(dir, 'keys/ca.pem'), 'utf8');
    assert.equal(statSync(path.join(dir, 'data/demo.env')).mode & 0o777, 0o600);
    const out = await waitFor('banner', () => /export SLUICE_TOKEN=(\w+)/.exec(child.output()));
    const token = out[1]!;
    const res = await request(`https://127.0.0.1:${ports[0]}/v1/packages/x@1/approve`, { dispatcher: new Agent({ connect: { ca } }), method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.statusCode, 404, 'the printed token is accepted (the package simply does not exist)');
    await res.body.dump();
    child.kill('SIGTERM');
    assert.equal((await exited(child)).code, 0);
  });
});
