import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { DnfClient, dnfMissing } from '../helpers/dnf-client.js';
import { FixtureRpmRepo, rpmToolsMissing } from '../helpers/rpm-repo.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT, onTeardown, tempDir, waitFor } from '../helpers/env.js';

const skip = rpmToolsMissing() ?? dnfMissing();

/** A hub between endpoints and the branch that can alter primary.xml or repomd.xml, or withhold package files. */
async function meddlingHub(target: string) {
  const faults = { alterPrimary: false, alterRepomd: false, withholdRpms: false };
  const server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    if (faults.withholdRpms && url.endsWith('.rpm')) {
      res.writeHead(404);
      return void res.end();
    }
    const up = await request(`${target}${url}`, { method: req.method as 'GET' });
    let body = Buffer.from(await up.body.arrayBuffer());
    if (faults.alterPrimary && /-primary\.xml\.gz$/.test(url) && up.statusCode === 200) body = gzipSync(Buffer.from(gunzipSync(body).toString().replace(/ver="1\.1"/g, 'ver="1.9"')));
    if (faults.alterRepomd && url.endsWith('/repomd.xml') && up.statusCode === 200) body = Buffer.from(body.toString().replace(/<revision>\d+/, '<revision>1'));
    res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/octet-stream'), 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTeardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, faults };
}

describe('stock dnf clients install from the nearest node, with the ring\'s signature end to end', { skip }, () => {
  it('hq → hub → branch over TLS: nothing before approval; the pilot ring\'s advisory installs with upgrade --security, broad sees none; a hub altering primary.xml or repomd.xml, or withholding an .rpm, makes dnf refuse; the dnf plugin reports', async () => {
    const vendor = new FixtureRpmRepo();
    await vendor.listen();
    const v10 = vendor.addPackage({ name: 'hello', version: '1.0-1.el9' });
    const v11 = vendor.addPackage({ name: 'hello', version: '1.1-1.el9' });
    const tool = vendor.addPackage({ name: 'hello-tool', version: '1.1-1.el9', arch: 'noarch', requires: ['hello = 1.1-1.el9'] });
    vendor.publish({ advisories: [{ id: 'TEST-2024:0001', type: 'security', severity: 'Important', cves: ['CVE-2024-0001'], packages: [v11, tool] }] });
    const keys = tempDir('sluice-rpmkey-');
    await generateRingKeys(keys, ['all', 'pilot', 'broad']);
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'hub', upstream: 'hq', extra: 'ring: [pilot, broad]' }, { name: 'branch', upstream: 'hub', extra: 'ring: [pilot, broad]' }],
      ['rings: [pilot, broad]', 'feeds:', `  el9: { type: rpm, url: "${vendor.url}", repos: { el9-os: "." }, architectures: [x86_64], keyring: "${vendor.keyringPath}" }`].join('\n'),
      undefined,
      { tls: true },
    );
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    const synced = await cli('feeds', 'sync', 'el9');
    assert.equal(synced.code, 0, synced.stderr);

    // Each endpoint's configuration is made at head office: the .repo and the keys beside it.
    const endpoint = async (ring: string, server: string, o: ConstructorParameters<typeof DnfClient>[2] = {}) => {
      const dir = tempDir('sluice-dnf-');
      const keyDir = path.join(dir, 'pki');
      const r = await cli('rpm-repo', '--ring', ring, '--server', server, '--keys', keys, '--key-dir', keyDir, '--ca', c.caPath, '--out', keyDir);
      assert.equal(r.code, 0, r.stderr);
      return new DnfClient(dir, readFileSync(path.join(keyDir, `sluice-${ring}.repo`), 'utf8'), o);
    };
    const listed = async (ring: string, needle: string) => {
      const repomd = await request(`${branch.address.url}/rpm/${ring}/el9-os/repodata/repomd.xml`);
      if (repomd.statusCode !== 200) return void (await repomd.body.dump());
      const href = /<data type="primary">[\s\S]*?<location href="([^"]+)"/.exec(await repomd.body.text())?.[1];
      const primary = await request(`${branch.address.url}/rpm/${ring}/el9-os/${href}`);
      return primary.statusCode === 200 && gunzipSync(Buffer.from(await primary.body.arrayBuffer())).toString().includes(needle);
    };

    // Before approval: the ring's repository is signed and empty; dnf reads it, installs nothing.
    await waitFor('the empty pilot repository at the branch', async () => (await listed('pilot', 'packages="0"')) === true, 30_000);
    // A ring this node has no repository of is said as such, naming those it has.
    const nowhere = await request(`${branch.address.url}/rpm/nosuchring/el9-os/repodata/repomd.xml`);
    assert.equal(nowhere.statusCode, 404);
    assert.match(((await nowhere.body.json()) as { error: { message: string } }).error.message, /has no dnf repository of ring nosuchring \(it has: [^)]*pilot/);
    const pilot = await endpoint('pilot', branch.address.url);
    // The ring's fingerprint, as the signed catalog names it, is the one the .repo file's comment gives.
    const root = (await (await request(`${branch.address.url}/v1/root`)).body.json()) as { aptKeys: { ring: string; fingerprint: string }[] };
    const fingerprint = root.aptKeys.find((k) => k.ring === 'pilot')?.fingerprint;
    assert.match(readFileSync(path.join(pilot.reposDir, 'sluice.repo'), 'utf8'), new RegExp(`fingerprint ${fingerprint}`));
    let r = await pilot.run('install', 'hello');
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /No match for argument: hello|Unable to find a match/, r.out);

    // 1.0 for both rings: installed from the branch, signatures checked (repo and package).
    assert.equal((await cli('approve', 'hello@1.0-1.el9', '--ring', 'pilot')).code, 0);
    assert.equal((await cli('approve', 'hello@1.0-1.el9', '--ring', 'broad')).code, 0);
    await waitFor('hello 1.0 in the pilot and broad repositories at the branch', async () => (await listed('pilot', 'ver="1.0"')) && (await listed('broad', 'ver="1.0"')), 30_000);
    r = await pilot.run('install', 'hello');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(pilot.installed(), ['hello-1.0-1.el9.x86_64']);
    const broad = await endpoint('broad', branch.address.url);
    r = await broad.run('install', 'hello');
    assert.equal(r.code, 0, r.out);

    // The advisory for pilot, in one append: pilot's upgrade --security takes it, broad sees none.
    const approved = await cli('approve', '--advisory', 'TEST-2024:0001', '--ring', 'pilot');
    assert.equal(approved.code, 0, approved.stderr);
    await waitFor('the advisory\'s packages in the pilot repository at the branch', () => listed('pilot', 'ver="1.1"'), 30_000);
    r = await pilot.run('updateinfo', 'list', '--security');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /TEST-2024:0001\s+Important\/Sec\.\s+hello-1\.1-1\.el9\.x86_64/, r.out);
    r = await pilot.run('upgrade', '--security');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(pilot.installed(), ['hello-1.1-1.el9.x86_64']);
    r = await broad.run('updateinfo', 'list', '--security', '--all');
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /TEST-2024/, 'broad sees no advisory');
    r = await broad.run('upgrade', '--security');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(broad.installed(), ['hello-1.0-1.el9.x86_64'], 'broad keeps its version');
    assert.ok(hq.store.has(tool.sha256), 'the advisory\'s noarch package came too');

    // Through a hub that alters primary.xml or repomd.xml: dnf refuses the metadata and installs nothing.
    const hub = await meddlingHub(branch.address.url);
    hub.faults.alterPrimary = true;
    const victim = await endpoint('pilot', hub.url);
    r = await victim.run('install', 'hello');
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /checksum|Checksum|doesn't match|mismatch/i, r.out);
    assert.deepEqual(victim.installed(), []);
    hub.faults.alterPrimary = false;
    hub.faults.alterRepomd = true;
    const second = await endpoint('pilot', hub.url);
    r = await second.run('install', 'hello');
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /GPG|signature|repomd\.xml/i, r.out);
    assert.deepEqual(second.installed(), []);
    // Withholding the .rpm: nothing installs.
    hub.faults.alterRepomd = false;
    hub.faults.withholdRpms = true;
    const third = await endpoint('pilot', hub.url);
    r = await third.run('install', 'hello');
    assert.notEqual(r.code, 0, r.out);
    assert.deepEqual(third.installed(), []);

    // Compliance without an agent: the dnf plugin reports the installed versions after the transaction, with the ring of its .repo.
    const etc = tempDir('sluice-dnf-report-');
    const tokenFile = path.join(etc, 'endpoint.token');
    writeFileSync(tokenFile, ENDPOINT_TOKEN);
    const reported = await endpoint('pilot', branch.address.url, { pluginDir: path.join(REPO_ROOT, 'deploy/dnf'), env: { SLUICE_DNF_REPORT: path.join(REPO_ROOT, 'deploy/dnf/sluice-dnf-report'), SLUICE_REPORT_URL: branch.address.url, SLUICE_TOKEN_FILE: tokenFile, SLUICE_CLIENT_ID: 'dnf-pc-1', SLUICE_CA: c.caPath } });
    r = await reported.run('install', 'hello');
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /sluice_report:/, r.out);
    const reports = (await (await request(`${branch.address.url}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { sites: Record<string, { packages: Record<string, Record<string, number>>; rings?: Record<string, { clients: number }> }> };
    assert.deepEqual(reports.sites.branch!.packages['hello@1.1-1.el9'], { succeeded: 1 });
    assert.equal(reports.sites.branch!.rings?.pilot?.clients, 1, 'counted for its ring, read from its .repo file');
    assert.ok(v10.sha256);
  });
});
