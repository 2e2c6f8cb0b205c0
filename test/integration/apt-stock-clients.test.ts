import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { readFileSync } from 'node:fs';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { AptClient } from '../helpers/apt-client.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli, runCommand } from '../helpers/cli.js';
import { REPO_ROOT, onTeardown, tempDir, waitFor } from '../helpers/env.js';

const skip = aptToolsMissing() ?? (spawnSync('apt-get', ['--version']).error ? 'apt-get is not installed' : undefined);

/** A hub between the endpoint and the branch that can alter or withhold what it relays. */
async function meddlingHub(target: string) {
  const faults = { alterPackages: false, withholdDebs: false };
  const server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    if (faults.withholdDebs && url.endsWith('.deb')) {
      res.writeHead(404);
      return void res.end();
    }
    const up = await request(`${target}${url}`, { method: req.method as 'GET' });
    let body = Buffer.from(await up.body.arrayBuffer());
    // Packages (by name or by hash, plain or gzip as apt asks): a version edited.
    if (faults.alterPackages && /\/binary-amd64\/(Packages(\.gz)?|by-hash\/SHA256\/[0-9a-f]{64})$/.test(url)) {
      const gz = body[0] === 0x1f && body[1] === 0x8b;
      const text = (gz ? gunzipSync(body) : body).toString();
      if (text.includes('Package:')) {
        const edited = Buffer.from(text.replace(/Version: 2\.0-1/, 'Version: 2.0-9'));
        body = gz ? gzipSync(edited) : edited;
      }
    }
    res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/octet-stream'), 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTeardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, faults };
}

describe('stock apt clients install from the nearest node, with the primary\'s signature end to end', { skip }, () => {
  it('hq → hub → branch: nothing before approval; v1 for pilot, not for broad; v2 seen by upgrade; an altering or withholding hub makes apt refuse', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const v1 = repo.addPackage({ name: 'hello', version: '1.0-1' });
    const v2 = repo.addPackage({ name: 'hello', version: '2.0-1' });
    repo.addPackage({ name: 'tool', version: '1.0', arch: 'all' });
    repo.publish();
    const keys = tempDir('sluice-aptkey-');
    await generateRingKeys(keys, ['all', 'pilot', 'broad']);
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'hub', upstream: 'hq', extra: 'ring: [pilot, broad]' }, { name: 'branch', upstream: 'hub', extra: 'ring: [pilot, broad]' }],
      ['rings: [pilot, broad]', 'feeds:', `  vendor: { type: apt, url: "${repo.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}" }`].join('\n'),
      undefined,
      { tls: true },
    );
    // Over TLS, as nodes run by default: the test, the endpoints and the hook pin the tree's CA.
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
    const secrets = { ...c.secrets, aptKeyPath: keys };
    const hq = await startNode(c.topology, 'hq', secrets);
    await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    const synced = await cli('feeds', 'sync', 'vendor', '--json');
    assert.equal(synced.code, 0, synced.stderr);

    // Each endpoint's source is made at head office with its ring's key inline, as the docs say.
    const sources = async (ring: string, server: string) => {
      const r = await cli('apt-source', '--ring', ring, '--server', server, '--keys', keys);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const pilot = new AptClient(tempDir('sluice-apt-client-'), await sources('pilot', branch.address.url), { ca: c.caPath });
    const broad = new AptClient(tempDir('sluice-apt-client-'), await sources('broad', branch.address.url), { ca: c.caPath });
    const listed = async (ring: string, needle: string) => {
      const res = await request(`${branch.address.url}/apt/${ring}/dists/stable/main/binary-amd64/Packages`);
      return res.statusCode === 200 && (await res.body.text()).includes(needle);
    };

    // Before approval: the index is signed and empty; apt updates, but nothing installs.
    await waitFor('the empty pilot index at the branch', async () => (await request(`${branch.address.url}/apt/pilot/dists/stable/InRelease`)).statusCode === 200, 30_000);
    let r = await pilot.run('update');
    assert.equal(r.code, 0, r.out);
    r = await pilot.run('install', '--download-only', 'hello');
    assert.notEqual(r.code, 0, 'not installable before approval');

    // v1 for pilot: the branch serves it once it holds the file; apt fetches the vendor's bytes.
    assert.equal((await cli('approve', 'hello@1.0-1', '--ring', 'pilot')).code, 0);
    await waitFor('hello 1.0-1 in the pilot index at the branch', () => listed('pilot', 'Version: 1.0-1'), 30_000);
    r = await pilot.run('update');
    assert.equal(r.code, 0, r.out);
    r = await pilot.run('install', '--download-only', 'hello');
    assert.equal(r.code, 0, r.out);
    assert.ok([...pilot.downloaded().values()].some((b) => b.equals(v1.bytes)), 'the very bytes the vendor signed for');
    // Served as a blob is: ranges (apt resumes a cut download), and an index by name is revalidated.
    const part = await request(`${branch.address.url}/apt/pilot/pool/${v1.sha256}/hello_1.0-1_amd64.deb`, { headers: { range: 'bytes=0-9' } });
    assert.equal(part.statusCode, 206);
    assert.ok(Buffer.from(await part.body.arrayBuffer()).equals(v1.bytes.subarray(0, 10)));
    const inRelease = await request(`${branch.address.url}/apt/pilot/dists/stable/InRelease`);
    assert.equal(inRelease.headers['cache-control'], 'no-cache');
    await inRelease.body.dump();
    r = await broad.run('update');
    assert.equal(r.code, 0, r.out);
    assert.notEqual((await broad.run('install', '--download-only', 'hello')).code, 0, 'a broad endpoint sees nothing');

    // v2 for pilot: an endpoint with v1 installed sees the upgrade.
    assert.equal((await cli('approve', 'hello@2.0-1', '--ring', 'pilot')).code, 0);
    await waitFor('hello 2.0-1 at the branch', () => listed('pilot', 'Version: 2.0-1'), 30_000);
    const upgrading = new AptClient(tempDir('sluice-apt-client-'), await sources('pilot', branch.address.url), { installed: [{ name: 'hello', version: '1.0-1' }], ca: c.caPath });
    assert.equal((await upgrading.run('update')).code, 0);
    r = await upgrading.run('--simulate', 'upgrade');
    assert.match(r.out, /Inst hello \[1\.0-1\] \(2\.0-1/, r.out);
    assert.ok(!(await listed('pilot', 'Version: 1.0-1')), 'v1 is superseded by the approved v2');

    // Through a hub that alters Packages: apt refuses the index; through one that withholds the .deb: no install.
    const hub = await meddlingHub(branch.address.url);
    hub.faults.alterPackages = true;
    const victim = new AptClient(tempDir('sluice-apt-client-'), await sources('pilot', hub.url), { ca: c.caPath });
    r = await victim.run('update');
    assert.match(r.out, /Hash Sum mismatch|hashes do not match|unexpected size/i, r.out);
    assert.notEqual((await victim.run('install', '--download-only', 'hello')).code, 0);
    assert.equal(victim.downloaded().size, 0);
    hub.faults.alterPackages = false;
    hub.faults.withholdDebs = true;
    const second = new AptClient(tempDir('sluice-apt-client-'), await sources('pilot', hub.url), { ca: c.caPath });
    assert.equal((await second.run('update')).code, 0);
    r = await second.run('install', '--download-only', 'hello');
    assert.notEqual(r.code, 0, r.out);
    assert.equal(second.downloaded().size, 0);

    // Compliance without an agent: the dpkg hook reports what dpkg installed to the site's node.
    const admindir = tempDir('sluice-dpkg-');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(path.join(admindir, 'info'));
    writeFileSync(path.join(admindir, 'status'), 'Package: hello\nStatus: install ok installed\nPriority: optional\nVersion: 2.0-1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: x\n\nPackage: bash\nStatus: install ok installed\nPriority: required\nVersion: 5.2.15-2\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: not catalogued\n');
    const tokenFile = path.join(admindir, 'endpoint.token');
    writeFileSync(tokenFile, ENDPOINT_TOKEN);
    // Run asynchronously: the node it reports to runs in this process.
    const hook = await runCommand('sh', [path.join(REPO_ROOT, 'deploy/apt/sluice-apt-report')], { env: { SLUICE_REPORT_URL: branch.address.url, SLUICE_TOKEN_FILE: tokenFile, SLUICE_CLIENT_ID: 'apt-pc-1', SLUICE_DPKG_ADMINDIR: admindir, SLUICE_CA: c.caPath }, timeoutMs: 30_000 });
    assert.equal(hook.code, 0, hook.stderr);
    const reports = (await (await request(`${branch.address.url}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { sites: Record<string, { packages: Record<string, Record<string, number>> }> };
    assert.deepEqual(reports.sites.branch!.packages['hello@2.0-1'], { succeeded: 1 });
    assert.equal(reports.sites.branch!.packages['bash@5.2.15-2'], undefined, 'only catalogued packages count');
    assert.ok(hq.catalog.seq > 0);
    assert.ok(v2.sha256);
  });
});
