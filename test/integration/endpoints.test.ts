import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { request } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/env.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { converged, getJson, metric, release } from '../helpers/replication.js';
import { adminPost, publish, writeFile } from '../helpers/publish.js';

let c: Awaited<ReturnType<typeof makeCluster>>;
let hq: SluiceNode;
let b1: SluiceNode;
let b2: SluiceNode;
let proxy: FaultProxy;
let base: string;
let installer: string;
const A3_OPTS = ['--platform', 'linux-x64', '--language', 'en'];

/** An install command: logs "<agent> <id>" to a file; "broken" fails, "reboot" asks for a reboot. */
function writeInstaller(dir: string): string {
  const script = path.join(dir, 'install.sh');
  writeFileSync(
    script,
    ['#!/bin/sh', 'echo "$3 $2" >> "$4"', 'printf "progress 1%%\\rprogress 100%%\\r\\n"', 'echo "installing $2"', 'case "$2" in', '  broken@*) echo "installer crashed" >&2; exit 1 ;;', '  reboot@*) exit 194 ;;', 'esac', '[ -f "$1" ] || exit 9', 'exit 0', ''].join('\n'),
    { mode: 0o755 },
  );
  return script;
}

async function agent(name: string, server: string, opts: string[], extraEnv: Record<string, string> = {}) {
  const dir = path.join(c.dir, `agent-${name}`);
  const log = path.join(c.dir, `installs-${name}.log`);
  const r = await runCli(
    ['agent', '--server', server, '--client-id', name, '--cache', dir, '--exec', `${installer} {file} {id} ${name} ${log}`, '--json', '-t', c.file, ...opts],
    { env: { SLUICE_ENDPOINT_TOKEN: ENDPOINT_TOKEN, ...extraEnv } },
  );
  const installs = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[1]!) : [];
  return { ...r, installs, run: r.stdout ? JSON.parse(r.stdout) : undefined };
}

before(async () => {
  c = await makeCluster([
    { name: 'hq' },
    { name: 'hub', upstream: 'hq' },
    { name: 'b1', upstream: 'hub', extra: 'ring: pilot' },
    { name: 'b2', upstream: 'hq', proxied: true },
  ]);
  proxy = c.proxies.get('b2')!;
  installer = writeInstaller(tempDir());
  hq = await startNode(c.topology, 'hq', c.secrets);
  await startNode(c.topology, 'hub', c.secrets);
  b1 = await startNode(c.topology, 'b1', c.secrets);
  b2 = await startNode(c.topology, 'b2', c.secrets);
  base = c.topology.nodes.get('hq')!.url;
  await release(base, c.dir, 'p-linux', { meta: { platform: 'linux-x64', severity: 'low' } });
  await release(base, c.dir, 'p-win', { meta: { platform: 'windows-x64', severity: 'important' } });
  await release(base, c.dir, 'p-fr', { meta: { language: 'fr', severity: 'critical' } });
  await release(base, c.dir, 'p-all', { meta: { severity: 'moderate' } });
  await release(base, c.dir, 'broken', { meta: { severity: 'low' } });
  await release(base, c.dir, 'reboot', { meta: { severity: 'low' } });
  await release(base, c.dir, 'unapproved', { ring: null });
  await converged(b1, hq.catalog.seq);
  await converged(b2, hq.catalog.seq);
});

describe('endpoints install what applies, in severity order, and report', () => {
  const expected: Record<string, [string, string[], string[]]> = {
    a1: ['b1', ['--platform', 'linux-x64', '--language', 'fr'], ['p-fr@1', 'p-all@1', 'p-linux@1', 'broken@1', 'reboot@1']],
    a2: ['b1', ['--platform', 'windows-x64', '--language', 'en'], ['p-win@1', 'p-all@1', 'broken@1', 'reboot@1']],
    a3: ['b2', ['--platform', 'linux-x64', '--language', 'en'], ['p-all@1', 'p-linux@1', 'broken@1', 'reboot@1']],
    a4: ['b2', ['--platform', 'windows-x64', '--language', 'fr'], ['p-fr@1', 'p-win@1', 'p-all@1', 'broken@1', 'reboot@1']],
  };

  it('four agents on two branches each install exactly their packages, most urgent first; a failing installer is reported with its error', async () => {
    for (const [name, [site, opts, want]] of Object.entries(expected)) {
      const a = await agent(name, c.topology.nodes.get(site)!.url, opts);
      assert.deepEqual(a.installs, want, `${name} installs`);
      assert.equal(a.code, 1, `${name}: a failed install makes the pass fail`);
      const byId = Object.fromEntries(a.run.installed.map((i: { id: string; status: string; error?: string }) => [i.id, i]));
      assert.equal(byId['broken@1'].status, 'failed');
      assert.equal(byId['broken@1'].error, 'exit code 1: installer crashed');
      assert.equal(byId['reboot@1'].status, 'succeeded-reboot');
      assert.equal(byId['p-all@1'].status, 'succeeded');
      assert.equal(a.run.reported, want.length);
      // The installer's own output reaches the agent's (the journal), per package, with the exit code.
      assert.match(a.stderr, /^p-all@1 stdout: installing p-all@1$/m);
      // A progress bar's redraws (\r) are lines of their own, not one line growing for the whole install.
      const pAllOut = a.stderr.split('\n').filter((l) => l.startsWith('p-all@1 stdout: '));
      assert.deepEqual(pAllOut, ['p-all@1 stdout: progress 1%', 'p-all@1 stdout: progress 100%', 'p-all@1 stdout: installing p-all@1']);
      assert.match(a.stderr, /^p-all@1: the install command exited with code 0$/m);
      assert.match(a.stderr, /^broken@1 stderr: installer crashed$/m);
      assert.match(a.stderr, /^broken@1: the install command exited with code 1$/m);
      assert.match(a.stderr, /^reboot@1: the install command exited with code 194$/m);
    }
  });

  it('the primary\'s report adds up across tiers (b1 behind a hub, b2 direct)', async () => {
    const reports = await waitFor('both sites to reach the primary', async () => {
      const res = await request(`${base}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = (await res.body.json()) as { sites: Record<string, { clients: number; packages: Record<string, Record<string, number>> }> };
      return body.sites.b1?.clients === 2 && body.sites.b2?.clients === 2 ? body : undefined;
    });
    assert.deepEqual(reports.sites.b1!.packages['p-all@1'], { succeeded: 2 });
    assert.deepEqual(reports.sites.b2!.packages['broken@1'], { failed: 2 });
    assert.deepEqual(reports.sites.b2!.packages['reboot@1'], { 'succeeded-reboot': 2 });
    assert.deepEqual(reports.sites.hub!.packages, {});
    const r = await runCli(['report', '--json', '-t', c.file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { rows: { package: string; site: string; counts: Record<string, number>; notReported: number; compliantPercent: number }[]; failures: { site: string; clientId: string; error: string }[] };
    const row = (pkg: string, site: string) => rep.rows.find((x) => x.package === pkg && x.site === site)!;
    assert.equal(row('p-all@1', 'b1').compliantPercent, 100);
    assert.equal(row('p-linux@1', 'b1').counts.succeeded, 1);
    assert.equal(row('p-linux@1', 'b1').notReported, 1, 'a2 (windows) sent nothing for the linux package');
    assert.equal(row('p-linux@1', 'b1').compliantPercent, 50);
    assert.equal(row('broken@1', 'b2').compliantPercent, 0);
    assert.deepEqual(rep.failures.filter((f) => f.site === 'b1').map((f) => [f.clientId, f.error]).sort(), [['a1', 'exit code 1: installer crashed'], ['a2', 'exit code 1: installer crashed']]);
    const text = await runCli(['report', '--package', 'broken@1', '-t', c.file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.match(text.stdout, /broken@1 +b1 +2 +0 +0 +2 .* 0%/);
    assert.match(text.stdout, /failed endpoints \(last error\):\n {2}b1\/a\d +broken@1 .*installer crashed/);
  });

  it('duplicate reports do not double-count; a success is not installed again', async () => {
    const a = await agent('a1', c.topology.nodes.get('b1')!.url, expected.a1![1]);
    assert.deepEqual(a.installs, [...expected.a1![2], 'broken@1'], 'only the failed package is tried again');
    const res = await request(`${c.topology.nodes.get('b1')!.url}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reports: [{ clientId: 'a2', package: 'p-all@1', status: 'succeeded', at: '2020-01-01T00:00:00.000Z' }] }),
    });
    assert.deepEqual(await res.body.json(), { accepted: 0, unchanged: 1 }, 'an older duplicate changes nothing');
    const reports = await (await request(`${base}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json() as { sites: Record<string, { packages: Record<string, Record<string, number>> }> };
    assert.deepEqual(reports.sites.b1!.packages['p-all@1'], { succeeded: 2 });
  });

  it('reports naming packages the node does not catalog are not counted: a site\'s summary cannot be grown with made-up ids', async () => {
    const url = `${c.topology.nodes.get('b2')!.url}/v1/reports`;
    const at = new Date().toISOString();
    const made = Array.from({ length: 500 }, (_, i) => ({ clientId: 'liar', package: `made-up-${i}@1`, status: 'failed', error: 'x'.repeat(1000), at }));
    const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ENDPOINT_TOKEN}` }, body: JSON.stringify({ reports: [...made, { clientId: 'liar', package: 'p-all@1', status: 'succeeded', at }] }) });
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as { accepted: number; ignored: number };
    assert.equal(body.accepted, 1, 'the catalogued package counts');
    assert.equal(body.ignored, 500);
    assert.equal(await metric(b2, 'sluice_reports_ignored_total'), 500);
    const own = await request(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const sites = ((await own.body.json()) as { sites: Record<string, { packages: Record<string, unknown>; failures: { package: string }[] }> }).sites;
    assert.ok(!Object.keys(sites.b2!.packages).some((p) => p.startsWith('made-up-')));
    assert.ok(!sites.b2!.failures.some((f) => f.package.startsWith('made-up-')));
  });

  it('reports need the site\'s endpoint token and a valid batch', async () => {
    const url = `${c.topology.nodes.get('b2')!.url}/v1/reports`;
    const post = (body: unknown, token: string | null = ENDPOINT_TOKEN) =>
      request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.statusCode, json: (await r.body.json()) as any }));
    assert.equal((await post({ reports: [] }, null)).status, 401);
    assert.equal((await post({ reports: [] }, ADMIN_TOKEN)).status, 403);
    const bad = await post({ reports: [{ clientId: 'x', package: 'p@1', status: 'installed', at: 'now' }] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /status/);
    const many = await post({ reports: Array.from({ length: 1001 }, () => ({ clientId: 'x', package: 'p@1', status: 'failed', at: new Date().toISOString() })) });
    assert.equal(many.status, 400);
    assert.ok((await metric(b2, 'sluice_reports_total{status="failed"}')) >= 2);
  });
});

describe('an endpoint never runs what the signed catalog does not vouch for', () => {
  it('a corrupted download is refused and reported failed, never executed', async () => {
    const fresh = await release(base, c.dir, 'fresh', { meta: { severity: 'critical' } });
    await converged(b2, hq.catalog.seq);
    proxy.blobFault = 'flip';
    try {
      const a = await agent('a3', c.topology.nodes.get('b2')!.url, A3_OPTS);
      assert.ok(!a.installs.includes('fresh@1'), 'not executed');
      const r = a.run.installed.find((i: { id: string }) => i.id === 'fresh@1');
      assert.equal(r.status, 'failed');
      assert.match(r.error, /hash/);
      assert.ok(!existsSync(path.join(c.dir, 'agent-a3', 'files', fresh.sha)), 'nothing kept');
    } finally {
      proxy.blobFault = 'none';
    }
    const again = await agent('a3', c.topology.nodes.get('b2')!.url, A3_OPTS);
    assert.ok(again.installs.includes('fresh@1'), 'installed once the bytes are right');
  });

  it('a package the node invents (not in the signed catalog) is never tried, never executed', async () => {
    proxy.updatesFault = 'forge';
    try {
      const a = await agent('a4', c.topology.nodes.get('b2')!.url, ['--platform', 'windows-x64', '--language', 'fr']);
      assert.ok(proxy.count('updates:forge') >= 1);
      assert.ok(!a.installs.includes('evil@1'));
      assert.equal(a.run.installed.find((i: { id: string }) => i.id === 'evil@1'), undefined, 'what to install comes from the signed catalog only');
    } finally {
      proxy.updatesFault = 'none';
    }
  });

  it('a node that edits /v1/updates cannot choose the file, the order, the name or the version the install command gets', async () => {
    const dir = tempDir();
    const first = writeFile(dir, 'first.bin', Buffer.from('the file the publisher listed first'));
    const second = writeFile(dir, 'second.bin', Buffer.from('another signed file of the package'));
    const pub = await publish(base, { name: 'two', version: '2.0~rc1', severity: 'low' }, [first, second]);
    assert.equal(pub.status, 201, JSON.stringify(pub.json));
    assert.equal((await adminPost(base, '/v1/packages/two@2.0~rc1/approve', { ring: 'all' })).status, 200);
    await converged(b2, hq.catalog.seq);
    const log = path.join(dir, 'words.log');
    proxy.updatesFault = 'steer';
    try {
      const r = await runCli(['agent', '--server', c.topology.nodes.get('b2')!.url, '--client-id', 'steered', '--cache', path.join(dir, 'cache'), '--exec', `printf '%s|%s|%s\\n' {name} {version} {file} >> ${log}`, '--json', '-t', c.file, '--platform', 'linux-x64', '--language', 'en'], { env: { SLUICE_ENDPOINT_TOKEN: ENDPOINT_TOKEN } });
      assert.ok(proxy.count('updates:steer') >= 1);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      const two = lines.find((l) => l.startsWith('two|'));
      assert.ok(two, `two@2.0~rc1 installed with its signed words: ${lines.join('; ')} ${r.stderr}`);
      const [name, version, file] = two.split('|');
      assert.equal(name, 'two');
      assert.equal(version, '2.0~rc1');
      assert.equal(path.basename(file!), 'first.bin', 'the first file the signed record lists, whatever order the node gives');
      assert.ok(!lines.some((l) => l.includes('Pre-Invoke') || l.includes('allow-downgrades')), lines.join('; '));
      // The platform filter is the agent's: the windows package stays out although offered.
      assert.ok(!lines.some((l) => l.startsWith('p-win|')), lines.join('; '));
      // Order is the catalog's too: most urgent first, not the node's reversed list.
      const order = lines.map((l) => l.split('|')[0]);
      assert.ok(order.indexOf('p-all') < order.indexOf('p-linux'), order.join(','));
    } finally {
      proxy.updatesFault = 'none';
    }
  });

  it('without --ring an agent installs only what is approved for all; with --ring, its ring too', async () => {
    await release(base, c.dir, 'pilot-only', { ring: 'pilot', meta: { severity: 'low' } });
    await converged(b1, hq.catalog.seq);
    const plain = await agent('ringless', c.topology.nodes.get('b1')!.url, A3_OPTS);
    assert.ok(!plain.installs.includes('pilot-only@1'), plain.installs.join(','));
    const pilot = await agent('ringed', c.topology.nodes.get('b1')!.url, [...A3_OPTS, '--ring', 'pilot']);
    assert.ok(pilot.installs.includes('pilot-only@1'), pilot.installs.join(','));
  });

  it('an agent pinned to another key rejects the catalog and installs nothing', async () => {
    const { generateKeyPair } = await import('../../src/catalog/keys.js');
    const other = generateKeyPair(path.join(tempDir(), 'k'));
    const a = await agent('a5', c.topology.nodes.get('b1')!.url, ['--catalog-key', other.publicPath]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /CATALOG_SIGNATURE_INVALID/);
    assert.deepEqual(a.installs, []);
  });
});

describe('GET /v1/updates', () => {
  it('lists approved, applicable packages with URLs here; pending ones without a URL', async () => {
    const b1url = c.topology.nodes.get('b1')!.url;
    const u = await getJson(`${b1url}/v1/updates?platform=linux-x64&language=en`);
    const ids = u.updates.map((x: { id: string }) => x.id);
    assert.ok(ids.includes('p-linux@1') && ids.includes('p-all@1') && !ids.includes('p-win@1') && !ids.includes('p-fr@1') && !ids.includes('unapproved@1'));
    const all = u.updates.find((x: { id: string }) => x.id === 'p-all@1');
    assert.equal(all.state, 'available');
    assert.equal(all.files[0].url, `${b1url}/v1/blobs/${all.files[0].sha256}`);
    assert.ok(Date.parse(all.deadline) > Date.parse(all.approvedAt));
    const bad = await request(`${b1url}/v1/updates?platform=../x`);
    assert.equal(bad.statusCode, 400);
    await bad.body.dump();
  });
});

describe('the agent on a bad day', () => {
  it('a catalog that fails verification, or a corrupted file, at the first --server is taken from the next one', async () => {
    const pkg = await release(base, c.dir, 'second-chance', { meta: { severity: 'critical' } });
    await converged(b1, hq.catalog.seq);
    await converged(b2, hq.catalog.seq);
    const servers = ['--server', c.topology.nodes.get('b2')!.url, c.topology.nodes.get('b1')!.url];
    proxy.catalogFault = 'forge-head';
    try {
      const a = await agent('a6', servers[1]!, [...A3_OPTS, ...servers]);
      assert.ok(a.run, a.stderr);
      assert.ok(proxy.count('catalog:forge-head') >= 1, 'the first server was tried');
      assert.ok(a.installs.includes(pkg.id), 'installed from the second server');
      assert.equal(a.run.server, c.topology.nodes.get('b1')!.url);
    } finally {
      proxy.catalogFault = 'none';
    }
    const late = await release(base, c.dir, 'late-fix', { meta: { severity: 'critical' } });
    await converged(b1, hq.catalog.seq);
    await converged(b2, hq.catalog.seq);
    proxy.blobFault = 'flip';
    try {
      const a = await agent('a7', servers[1]!, [...A3_OPTS, ...servers]);
      assert.ok(a.run, a.stderr);
      assert.ok(proxy.count('blob:flip') >= 1, 'the first server sent corrupted bytes');
      assert.ok(a.installs.includes(late.id), 'the file came from the next server');
    } finally {
      proxy.blobFault = 'none';
    }
  });

  it('two agent runs never share a cache at once; a lock left by a dead process is taken over', async () => {
    const dir = path.join(c.dir, 'agent-a8');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'lock'), `${process.pid}\n`);
    const busy = await agent('a8', c.topology.nodes.get('b1')!.url, []);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /AGENT_BUSY.*pid \d+/);
    assert.deepEqual(busy.installs, []);
    const dead = spawnSync('true').pid!;
    writeFileSync(path.join(dir, 'lock'), `${dead}\n`);
    const ok = await agent('a8', c.topology.nodes.get('b1')!.url, []);
    assert.doesNotMatch(ok.stderr, /AGENT_BUSY/);
    assert.ok(ok.installs.length > 0);
    assert.ok(!existsSync(path.join(dir, 'lock')), 'released after the run');
  });

  it('a package its node withholds, though the signed catalog approves it, is installed from the next server and reported as withheld by that node', async () => {
    const fix = await release(base, c.dir, 'withheld-fix', { meta: { severity: 'critical' } });
    await converged(b1, hq.catalog.seq);
    await converged(b2, hq.catalog.seq);
    const b2url = c.topology.nodes.get('b2')!.url;
    proxy.updatesFault = 'withhold-critical';
    proxy.blobFault = 'withhold';
    try {
      const a = await agent('a9', b2url, ['--server', b2url, c.topology.nodes.get('b1')!.url]);
      assert.ok(proxy.count('updates:withhold-critical') >= 1);
      assert.ok(a.installs.includes(fix.id), a.stderr);
      assert.equal(a.run.server, b2url, 'the node it reports to is still its own');
    } finally {
      proxy.updatesFault = 'none';
      proxy.blobFault = 'none';
    }
    const reports = (await (await request(`${b2url}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { sites: Record<string, { withheld?: { clientId: string; package: string; by: string }[] }> };
    const entry = reports.sites.b2!.withheld?.find((w) => w.clientId === 'a9');
    assert.equal(entry?.package, fix.id);
    assert.equal(entry?.by, b2url, 'the report names the node that withheld it');
  });
});

describe('the agent\'s summary, cache and token', () => {
  it('counts outcomes by status, deletes what installed (keeps what failed), reads the token from a file', async () => {
    const cache = path.join(c.dir, 'agent-t1');
    const log = path.join(c.dir, 'installs-t1.log');
    const tokenFile = path.join(c.dir, 'endpoint.token');
    writeFileSync(tokenFile, `${ENDPOINT_TOKEN}\n`, { mode: 0o600 });
    const r = await runCli(
      ['agent', '--server', c.topology.nodes.get('b2')!.url, '--client-id', 't1', '--cache', cache, '--exec', `${installer} {file} {id} t1 ${log}`, '--token-file', tokenFile, '-t', c.file, ...A3_OPTS],
      { env: { SLUICE_ENDPOINT_TOKEN: '' } },
    );
    assert.equal(r.code, 1, 'a failed install fails the pass');
    assert.match(r.stdout, /; \d+ succeeded, 1 failed, 1 succeeded-reboot; \d+ pending on the node, \d+ reported\n$/);
    const kept = existsSync(path.join(cache, 'files')) ? readdirSync(path.join(cache, 'files')) : [];
    const sums = JSON.parse(readFileSync(path.join(cache, 'installed.json'), 'utf8')) as Record<string, { status: string }>;
    assert.equal(sums['broken@1']!.status, 'failed');
    assert.equal(kept.length, 1, 'only the failed package\'s file stays in the cache');
    const missing = await runCli(['agent', '--server', c.topology.nodes.get('b2')!.url, '--client-id', 't2', '--cache', path.join(c.dir, 'agent-t2'), '--exec', 'true', '--token-file', path.join(c.dir, 'nope'), '-t', c.file]);
    assert.match(missing.stderr, /FILE_NOT_READABLE: --token-file .*nope: no such file/);
    const none = await runCli(['agent', '--server', c.topology.nodes.get('b2')!.url, '--client-id', 't3', '--cache', path.join(c.dir, 'agent-t3'), '--exec', 'true', '-t', c.file, ...A3_OPTS], { env: { SLUICE_ENDPOINT_TOKEN: '' } });
    assert.match(none.stderr, /not reporting: no endpoint token; give --token-file FILE or set SLUICE_ENDPOINT_TOKEN .*data\/demo\.env/);
  });
});

describe('compliance', () => {
  it('compliance counts only the sites in a package\'s rings, and a site without endpoints has no percentage', async () => {
    await release(base, c.dir, 'pilot-fix', { ring: 'pilot', meta: { severity: 'critical' } });
    await converged(b1, hq.catalog.seq);
    const a = await agent('p1', c.topology.nodes.get('b1')!.url, ['--platform', 'linux-x64', '--language', 'en', '--ring', 'pilot']);
    assert.ok(a.installs.includes('pilot-fix@1'));
    type Row = { package: string; severity: string; site: string; clients: number; counts: Record<string, number>; compliantPercent: number | null };
    const body = await waitFor('b1\'s pilot install to reach the primary', async () => {
      const res = await request(`${base}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const json = (await res.body.json()) as { compliance: Row[] };
      return json.compliance.some((r) => r.package === 'pilot-fix@1' && r.counts.succeeded === 1) ? json : undefined;
    });
    const sitesOf = (pkg: string) => body.compliance.filter((r) => r.package === pkg).map((r) => r.site).sort();
    assert.deepEqual(sitesOf('pilot-fix@1'), ['b1'], 'b2, hub and hq are not in ring pilot: not applicable');
    assert.deepEqual(sitesOf('p-all@1'), ['b1', 'b2', 'hq', 'hub']);
    const hub = body.compliance.find((r) => r.package === 'p-all@1' && r.site === 'hub')!;
    assert.equal(hub.clients, 0);
    assert.equal(hub.compliantPercent, null, 'no endpoints: no percentage, never 100%');
    const text = await runCli(['report', '--package', 'p-all@1', '-t', c.file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.match(text.stdout, /p-all@1 +hub +0 .* no endpoints/);
    const pilot = await runCli(['report', '--package', 'pilot-fix@1', '-t', c.file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.doesNotMatch(pilot.stdout, /pilot-fix@1 +(b2|hub|hq) /);
    assert.match(pilot.stdout, /pilot-fix@1 +b1 .*%/);
    // The gauge counts only applicable sites with endpoints: b1's one pilot endpoint installed it.
    let ok = 0;
    let all = 0;
    for (const r of body.compliance.filter((x) => x.severity === 'critical')) {
      ok += (r.counts.succeeded ?? 0) + (r.counts['succeeded-reboot'] ?? 0) + (r.counts['not-applicable'] ?? 0);
      all += r.clients;
    }
    assert.ok(all > 0);
    assert.equal(await metric(hq, 'sluice_compliance_ratio{severity="critical"}'), ok / all);
  });
});
