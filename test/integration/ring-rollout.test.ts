import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { AptClient } from '../helpers/apt-client.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, TEST_TUNING, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli, runCommand } from '../helpers/cli.js';
import { REPO_ROOT, tempDir, waitFor } from '../helpers/env.js';

const skip = aptToolsMissing() ?? (spawnSync('apt-get', ['--version']).error ? 'apt-get is not installed' : undefined);

/** A machine's dpkg database as dpkg leaves it after installing `packages` (status: installed, or a failed configure). */
function dpkgStatus(packages: { name: string; version: string; status?: 'installed' | 'half-configured' }[]): string {
  const dir = tempDir('sluice-dpkg-');
  mkdirSync(path.join(dir, 'info'));
  writeFileSync(path.join(dir, 'status'), packages.map((p) => `Package: ${p.name}\nStatus: install ok ${p.status ?? 'installed'}\nPriority: optional\nVersion: ${p.version}\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: x\n`).join('\n'));
  return dir;
}

describe('rings that hold: pilot gets the fix while broad keeps what it has, then the gate promotes it from real reports', { skip }, () => {
  it('hq → hub → branch serving pilot and broad machines with stock apt: per-ring versions, promotion by rule from the dpkg hook\'s reports, a failure in pilot holds the next fix', async () => {
    const vendor = new FixtureAptRepo();
    await vendor.listen();
    vendor.addPackage({ name: 'hello', version: '1.0-1' });
    vendor.addPackage({ name: 'hello', version: '1.1-1' });
    vendor.publish();
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'hub', upstream: 'hq', extra: 'ring: [pilot, broad]' }, { name: 'branch', upstream: 'hub', extra: 'ring: [pilot, broad]' }],
      ['rings:', '  pilot: { promote: { to: broad, after: 1s, minClients: 2, minSucceeded: 100%, maxFailed: 0 } }', '  broad: {}', 'feeds:', `  vendor: { type: apt, url: "${vendor.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${vendor.keyringPath}" }`].join('\n'),
      undefined,
      { tls: true, trust: 'aptKeys: keys/apt' },
    );
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    const keys = path.join(c.dir, 'keys', 'apt');
    assert.equal((await cli('keygen', '--apt', '--out', keys)).code, 0);
    const tuning = { ...TEST_TUNING, promoteEveryMs: 200 };
    await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys }, tuning);
    await startNode(c.topology, 'hub', c.secrets, tuning);
    const branch = await startNode(c.topology, 'branch', c.secrets, tuning);
    assert.equal((await cli('feeds', 'sync', 'vendor')).code, 0);

    // The sequence: the fix for pilot first, then the current version for broad.
    let r = await cli('approve', 'hello@1.1-1', '--ring', 'pilot');
    assert.equal(r.code, 0, r.stderr);
    r = await cli('approve', 'hello@1.0-1', '--ring', 'broad');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello@1\.0-1: approved\(broad; pilot: superseded by hello@1\.1-1\)|hello@1\.0-1: approved\(broad\)/);
    // Approving what changes nothing says why and fails.
    r = await cli('approve', 'hello@1.0-1', '--ring', 'pilot');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SUPERSEDED_FOR_RING.*superseded for pilot by hello@1\.1-1/);

    const indexOf = async (ring: string) => {
      const res = await request(`${branch.address.url}/apt/${ring}/dists/stable/main/binary-amd64/Packages`);
      return res.statusCode === 200 ? res.body.text() : (await res.body.dump(), '');
    };
    await waitFor('pilot lists 1.1-1 and broad 1.0-1 at the branch', async () => (await indexOf('pilot')).includes('Version: 1.1-1') && (await indexOf('broad')).includes('Version: 1.0-1'), 30_000);
    assert.ok(!(await indexOf('broad')).includes('Version: 1.1-1'), 'broad keeps 1.0-1');
    assert.ok(!(await indexOf('pilot')).includes('Version: 1.0-1'), 'pilot moved on');

    // Machines of both rings at the same branch, each set up with its ring's source.
    const sourceOf = async (ring: string) => {
      const s = await cli('apt-source', '--ring', ring, '--server', branch.address.url);
      assert.equal(s.code, 0, s.stderr);
      return s.stdout;
    };
    const pilotPc = new AptClient(tempDir('sluice-apt-client-'), await sourceOf('pilot'), { installed: [{ name: 'hello', version: '1.0-1' }], ca: c.caPath });
    const broadPc = new AptClient(tempDir('sluice-apt-client-'), await sourceOf('broad'), { installed: [{ name: 'hello', version: '1.0-1' }], ca: c.caPath });
    const freshBroad = new AptClient(tempDir('sluice-apt-client-'), await sourceOf('broad'), { ca: c.caPath });
    for (const pc of [pilotPc, broadPc, freshBroad]) {
      const u = await pc.run('update');
      assert.equal(u.code, 0, u.out);
    }
    assert.match((await pilotPc.run('--simulate', 'upgrade')).out, /Inst hello \[1\.0-1\] \(1\.1-1/);
    assert.doesNotMatch((await broadPc.run('--simulate', 'upgrade')).out, /Inst hello/, 'a broad machine has nothing to upgrade');
    assert.match((await freshBroad.run('--simulate', 'install', 'hello')).out, /Inst hello \(1\.0-1/, 'a new broad machine installs 1.0-1');

    // Pilot machines upgrade; the dpkg hook reports what dpkg installed, with the ring of the
    // machine's source file. Two succeeded reports pass the gate: the primary promotes the fix.
    const tokenFile = path.join(tempDir(), 'endpoint.token');
    writeFileSync(tokenFile, ENDPOINT_TOKEN);
    const hook = async (clientId: string, installed: Parameters<typeof dpkgStatus>[0]) => {
      const out = await runCommand('sh', [path.join(REPO_ROOT, 'deploy/apt/sluice-apt-report')], {
        env: { SLUICE_REPORT_URL: branch.address.url, SLUICE_TOKEN_FILE: tokenFile, SLUICE_CLIENT_ID: clientId, SLUICE_DPKG_ADMINDIR: dpkgStatus(installed), SLUICE_CA: c.caPath, SLUICE_SOURCES: path.join(pilotPc.root, 'etc/sources.list.d/sluice.sources') },
        timeoutMs: 30_000,
      });
      assert.equal(out.code, 0, out.stderr);
    };
    await hook('pilot-1', [{ name: 'hello', version: '1.1-1' }]);
    r = await cli('promotions');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pilot → broad \(approved by the primary\): after 1s, at least 2 clients, 100% succeeded, at most 0 failed/);
    await waitFor('the gate to count the first pilot report', async () => /WAITING\s+hello@1\.1-1\s+pilot → broad: 1 pilot client reported an outcome, 2 needed/.test((await cli('promotions')).stdout), 30_000);
    await hook('pilot-2', [{ name: 'hello', version: '1.1-1' }]);
    await waitFor('the rule to approve 1.1-1 for broad and the branch to serve it', async () => (await indexOf('broad')).includes('Version: 1.1-1'), 30_000);
    assert.equal((await broadPc.run('update')).code, 0);
    assert.match((await broadPc.run('--simulate', 'upgrade')).out, /Inst hello \[1\.0-1\] \(1\.1-1/, 'broad upgrades once promoted');
    const decided = JSON.parse((await cli('promotions', '--json')).stdout) as { decided: { package: string; by: string; evidence: { clients: number; succeeded: number; failed: number; sites: Record<string, { succeeded: number }> } }[] };
    assert.deepEqual(decided.decided.map((d) => [d.package, d.by, d.evidence.clients, d.evidence.succeeded, d.evidence.failed, d.evidence.sites.branch?.succeeded]), [['hello@1.1-1', 'rule:pilot→broad', 2, 2, 0, 2]]);
    const audit = await request(`${c.topology.nodes.get('hq')!.url}/v1/audit?limit=100`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const entries = ((await audit.body.json()) as { entries: { who: string; act: string; target: string }[] }).entries;
    assert.ok(entries.some((e) => e.who === 'rule:pilot→broad' && e.act === 'approve' && e.target.startsWith('hello@1.1-1 for broad: 2 of 2 pilot clients succeeded')), JSON.stringify(entries.slice(0, 5)));

    // The next fix fails on a pilot machine (its maintainer script): the gate holds it, however
    // many others succeed, and broad keeps 1.1-1.
    vendor.addPackage({ name: 'hello', version: '1.2-1' });
    vendor.publish();
    assert.equal((await cli('feeds', 'sync', 'vendor')).code, 0);
    assert.equal((await cli('approve', 'hello@1.2-1', '--ring', 'pilot')).code, 0);
    await hook('pilot-1', [{ name: 'hello', version: '1.2-1', status: 'half-configured' }]);
    await hook('pilot-2', [{ name: 'hello', version: '1.2-1' }]);
    await hook('pilot-3', [{ name: 'hello', version: '1.2-1' }]);
    await waitFor('1.2-1 held in pilot', async () => /HELD\s+hello@1\.2-1\s+pilot → broad: 1 of 3 pilot clients failed: dpkg left it half-configured/.test((await cli('promotions')).stdout), 30_000);
    const metrics = await (await request(`${c.topology.nodes.get('hq')!.url}/metrics`)).body.text();
    assert.match(metrics, /sluice_promotion_held\{package="hello@1\.2-1",from="pilot",to="broad"\} 1/);
    const plan = await cli('plan');
    assert.match(plan.stdout, /hello@1\.2-1 pilot → broad: HELD: 1 of 3 pilot clients failed/);
    assert.ok((await indexOf('broad')).includes('Version: 1.1-1') && !(await indexOf('broad')).includes('Version: 1.2-1'), 'broad keeps 1.1-1');
    // The console says the same, on each package's page at the primary.
    const page = async (id: string) => (await request(`${c.topology.nodes.get('hq')!.url}/ui/packages/${encodeURIComponent(id)}`)).body.text();
    assert.match(await page('hello@1.2-1'), /pilot → broad<\/strong>: <span class="state state-declined">held<\/span> 1 of 3 pilot clients failed: dpkg left it half-configured/);
    assert.match(await page('hello@1.1-1'), /pilot → broad<\/strong>: promoted .* by rule:pilot→broad: 2 of 2 pilot clients succeeded, 0 failed \(branch 2\/2\)/);
  });
});
