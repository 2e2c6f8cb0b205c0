import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { clearsign, loadRepositoryKey } from '../../src/feeds/repository-key.js';
import { AptClient } from '../helpers/apt-client.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { onTeardown, tempDir, waitFor } from '../helpers/env.js';

const skip = aptToolsMissing() ?? (spawnSync('apt-get', ['--version']).error ? 'apt-get is not installed' : undefined);

/**
 * An HTTP server in front of `target` that rewrites paths (`map`) and may answer some itself
 * (`answer`): a compromised or misconfigured hub between endpoints and their branch.
 */
async function hubProxy(target: string, o: { map?: (url: string) => string; answer?: (url: string) => Buffer | undefined }) {
  const server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    const own = o.answer?.(url);
    if (own) {
      res.writeHead(200, { 'content-length': own.length });
      return void res.end(own);
    }
    try {
      const up = await request(`${target}${o.map ? o.map(url) : url}`);
      const body = Buffer.from(await up.body.arrayBuffer());
      res.writeHead(up.statusCode, { 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(502);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTeardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("an endpoint's first trust comes from head office, and one ring's index never satisfies another ring's client", { skip }, () => {
  it('a rogue node with its own key, a hub swapping rings, a replayed old index, another ring\'s pool file: apt installs none of them', async () => {
    const vendor = new FixtureAptRepo();
    await vendor.listen();
    vendor.addPackage({ name: 'hello', version: '1.0-1' });
    const v11 = vendor.addPackage({ name: 'hello', version: '1.1-1' });
    vendor.publish();
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'hub', upstream: 'hq', extra: 'ring: [pilot, prod]' }, { name: 'branch', upstream: 'hub', extra: 'ring: [pilot, prod]' }],
      ['rings: [pilot, prod]', 'feeds:', `  vendor: { type: apt, url: "${vendor.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${vendor.keyringPath}" }`].join('\n'),
      undefined,
      { tls: true, trust: 'aptIndexTtl: 1h, aptKeys: keys/apt' },
    );
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });

    // Head office makes one key per ring and prints each fingerprint.
    const keys = path.join(c.dir, 'keys', 'apt');
    const keygen = await cli('keygen', '--apt', '--out', keys);
    assert.equal(keygen.code, 0, keygen.stderr);
    const fingerprints = new Map([...keygen.stdout.matchAll(/^ {2}(\S+)\s+([0-9A-F]{40})\s/gm)].map((m) => [m[1]!, m[2]!]));
    assert.deepEqual([...fingerprints.keys()].sort(), ['all', 'pilot', 'prod']);
    assert.equal(new Set(fingerprints.values()).size, 3, 'a key per ring');

    await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    assert.equal((await cli('feeds', 'sync', 'vendor')).code, 0);
    assert.equal((await cli('approve', 'hello@1.1-1', '--ring', 'pilot')).code, 0);
    const pilotPackages = `${branch.address.url}/apt/pilot/dists/stable/main/binary-amd64/Packages`;
    await waitFor('hello 1.1-1 in the pilot index at the branch', async () => {
      const res = await request(pilotPackages);
      return res.statusCode === 200 && (await res.body.text()).includes('Version: 1.1-1');
    }, 30_000);
    await waitFor('the prod index at the branch', async () => {
      const res = await request(`${branch.address.url}/apt/prod/dists/stable/InRelease`);
      await res.body.dump();
      return res.statusCode === 200;
    }, 30_000);
    // A ring this node has no index of is said as such, naming those it has.
    const nowhere = await request(`${branch.address.url}/apt/nosuchring/dists/stable/InRelease`);
    assert.equal(nowhere.statusCode, 404);
    assert.match(((await nowhere.body.json()) as { error: { message: string } }).error.message, /has no APT repository of ring nosuchring \(it has: [^)]*pilot/);

    // The endpoint's source, made at head office with its ring's key inline (the docs' set-up).
    const sources = async (ring: string, server: string) => {
      const r = await cli('apt-source', '--ring', ring, '--server', server);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`fingerprint ${fingerprints.get(ring)}`));
      return r.stdout;
    };
    // The genuine set-up works: a pilot machine installs the fix.
    const genuine = new AptClient(tempDir('sluice-apt-client-'), await sources('pilot', branch.address.url), { ca: c.caPath });
    let r = await genuine.run('update');
    assert.equal(r.code, 0, r.out);
    r = await genuine.run('install', '--download-only', 'hello');
    assert.equal(r.code, 0, r.out);
    assert.ok([...genuine.downloaded().values()].some((b) => b.equals(v11.bytes)));

    // 1. A rogue node: its own key (served at /apt/pilot/key.asc) and its own signed index with
    //    a package of its own. The endpoint set up as the docs say installs nothing from it.
    const rogueRepo = new FixtureAptRepo();
    await rogueRepo.listen();
    rogueRepo.addPackage({ name: 'hello', version: '9.9-1' });
    rogueRepo.publish();
    const rogueKey = readFileSync(rogueRepo.keyringPath);
    const rogue = await hubProxy(rogueRepo.url, { map: (u) => u.replace(/^\/apt\/pilot/, ''), answer: (u) => (u === '/apt/pilot/key.asc' || u === '/apt/key.asc' ? rogueKey : undefined) });
    const victim = new AptClient(tempDir('sluice-apt-client-'), await sources('pilot', rogue), { ca: c.caPath });
    r = await victim.run('update');
    assert.match(r.out, /NO_PUBKEY|not signed|signature|is not signed/i, r.out);
    r = await victim.run('install', '--download-only', 'hello');
    assert.notEqual(r.code, 0, r.out);
    assert.equal(victim.downloaded().size, 0, 'nothing from the rogue node');

    // 3a. A hub that hands prod's new machines pilot's index (pilot-only 1.1-1 inside).
    const swapping = await hubProxy(branch.address.url, { map: (u) => u.replace(/^\/apt\/prod\//, '/apt/pilot/') });
    const fresh = new AptClient(tempDir('sluice-apt-client-'), await sources('prod', swapping), { ca: c.caPath });
    r = await fresh.run('update');
    assert.match(r.out, /NO_PUBKEY|not signed|signature/i, r.out);
    r = await fresh.run('install', '--download-only', 'hello');
    assert.notEqual(r.code, 0, r.out);
    assert.equal(fresh.downloaded().size, 0, "pilot's index does not satisfy a prod client");

    // 3b. A replay: pilot's index as the primary signed it two hours ago, with the validity the
    //     primary gives its indexes. A new machine refuses it as expired.
    const inRelease = await (await request(`${branch.address.url}/apt/pilot/dists/stable/InRelease`)).body.text();
    const release = inRelease.slice(inRelease.indexOf('\n\n') + 2, inRelease.indexOf('-----BEGIN PGP SIGNATURE-----')).replace(/\n$/, '');
    const date = Date.parse(/^Date: (.*)$/m.exec(release)![1]!.replace(/UTC$/, '+0000'));
    const validUntil = Date.parse(/^Valid-Until: (.*)$/m.exec(release)![1]!.replace(/UTC$/, '+0000'));
    assert.ok(validUntil - date <= 3600_000, `the index is valid for at most the configured hour (${(validUntil - date) / 1000} s)`);
    const then = Date.now() - 2 * 3600_000;
    const stamp = (ms: number) => new Date(ms).toUTCString().replace('GMT', 'UTC');
    const old = release.replace(/^Date: .*$/m, `Date: ${stamp(then)}`).replace(/^Valid-Until: .*$/m, `Valid-Until: ${stamp(then + (validUntil - date))}`);
    const replayed = Buffer.from(await clearsign(`${old}\n`, await loadRepositoryKey(path.join(keys, 'pilot.key'))));
    const replaying = await hubProxy(branch.address.url, { answer: (u) => (u === '/apt/pilot/dists/stable/InRelease' ? replayed : undefined) });
    const newMachine = new AptClient(tempDir('sluice-apt-client-'), await sources('pilot', replaying), { ca: c.caPath });
    r = await newMachine.run('update');
    assert.match(r.out, /expired|no longer valid/i, r.out);
    r = await newMachine.run('install', '--download-only', 'hello');
    assert.notEqual(r.code, 0, r.out);

    // 13. A ring's pool serves only what that ring's index lists.
    const poolPath = (ring: string) => `${branch.address.url}/apt/${ring}/pool/${v11.sha256}/hello_1.1-1_amd64.deb`;
    const inPilot = await request(poolPath('pilot'));
    await inPilot.body.dump();
    assert.equal(inPilot.statusCode, 200);
    const inProd = await request(poolPath('prod'));
    await inProd.body.dump();
    assert.equal(inProd.statusCode, 404, "a pilot-only package is not in prod's pool");

    // The one shared key route is gone; a ring's key is there to compare, and root show names each.
    const shared = await request(`${branch.address.url}/apt/key.asc`);
    assert.equal(shared.statusCode, 404);
    assert.match(await shared.body.text(), /apt-source/);
    const pilotKey = await request(`${branch.address.url}/apt/pilot/key.asc`);
    assert.equal(pilotKey.statusCode, 200);
    assert.equal(await pilotKey.body.text(), (await loadRepositoryKey(path.join(keys, 'pilot.key'))).publicArmored);
    const shown = await cli('root', 'show', '--server', branch.address.url);
    assert.equal(shown.code, 0, shown.stderr);
    const aptKeys = (JSON.parse(shown.stdout) as { aptKeys: { ring: string; fingerprint: string }[] }).aptKeys;
    assert.deepEqual(Object.fromEntries(aptKeys.map((k) => [k.ring, k.fingerprint])), Object.fromEntries(fingerprints));
  });

  it('sluice apt-source writes nothing but the one source: a server URL with a line break (a second, unsigned stanza) is refused, and so is a node that does not serve the ring', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'p', upstream: 'hq', extra: 'ring: pilot' }, { name: 'b', upstream: 'hq', extra: 'ring: broad' }], 'rings: [pilot, broad]', undefined, { trust: 'aptKeys: keys/apt' });
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    assert.equal((await cli('keygen', '--apt', '--out', path.join(c.dir, 'keys', 'apt'))).code, 0);
    const evil = 'http://branch.example:7402/x\n\nTypes: deb\nURIs: http://evil.example\nSuites: stable\nComponents: main\nTrusted: yes\nX-Rest: ';
    let r = await cli('apt-source', '--ring', 'pilot', '--server', evil, '--suite', 'stable');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /a URL holds no spaces, line breaks or control characters/);
    assert.equal(r.stdout, '');
    r = await cli('apt-source', '--ring', 'pilot', '--node', 'b', '--suite', 'stable');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--node b does not serve ring pilot \(its rings: broad\); name a node of ring pilot, e\.g\. p/);
    r = await cli('apt-source', '--ring', 'pilot', '--node', 'p', '--suite', 'stable');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/^Types: /gm)?.length, 1, 'one stanza');
    assert.match(r.stdout, new RegExp(`^URIs: ${c.topology.nodes.get('p')!.url}/apt/pilot$`, 'm'));
  });
});
