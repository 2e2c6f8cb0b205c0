import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Agent, request, setGlobalDispatcher } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import { createCa, issueNodeCert, nodeCertPaths } from '../../src/tls/certificates.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { converged, holdsExactly, metric, release } from '../helpers/replication.js';

const run = promisify(execFile);
let c: Awaited<ReturnType<typeof makeCluster>>;
let hq: SluiceNode;
let branch: SluiceNode;
let base: string;

before(async () => {
  c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hub' }, { name: 'b2', upstream: 'hq' }, { name: 'rogue', upstream: 'hq' }], '', undefined, { tls: true });
  // The test's own requests (publish, approve) trust the tree's CA, as curl --cacert does.
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
  hq = await startNode(c.topology, 'hq', c.secrets);
  await startNode(c.topology, 'hub', c.secrets);
  branch = await startNode(c.topology, 'branch', c.secrets);
  base = c.topology.nodes.get('hq')!.url;
});

describe('HTTPS between nodes, with one identity per node', () => {
  it('three tiers replicate over mutual TLS, with no peer token at all', async () => {
    assert.match(base, /^https:/);
    const rel = await release(base, c.dir, 'over-tls', { size: 300_000 });
    await converged(branch, hq.catalog.seq);
    assert.ok(holdsExactly(branch, rel.content));
    // Pushes are proven by certificates: the branch's status reaches head office through the hub.
    const tree = await waitFor('the branch status at the primary', () => {
      const s = hq.status() as { children: { hub?: { children?: { branch?: { catalog: { seq: number } } } } } };
      return s.children.hub?.children?.branch?.catalog.seq === hq.catalog.seq ? s : undefined;
    });
    assert.ok(tree);
  });

  it('curl and the agent fetch with the CA pinned; plain HTTP to a TLS port is refused and counted', async () => {
    const rel = await release(base, c.dir, 'curl-me', { size: 100_000 });
    await converged(branch, hq.catalog.seq);
    const out = path.join(tempDir(), 'blob');
    await run('curl', ['-sSf', '--cacert', c.caPath, '-o', out, `${branch.address.url}/v1/blobs/${rel.sha}`]);
    assert.ok(readFileSync(out).equals(rel.content));
    await assert.rejects(run('curl', ['-sSf', `${branch.address.url}/v1/blobs/${rel.sha}`]), 'without the CA pinned, curl refuses the certificate');
    const plain = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', branch.address.url.replace('https:', 'http:') + '/readyz']).catch((e: { stdout: string }) => e);
    assert.notEqual((plain as { stdout: string }).stdout, '200');
    await waitFor('plain HTTP counted', async () => (await metric(branch, 'sluice_tls_handshake_failures_total{reason="plain_http"}')) >= 1);

    const agent = await runCli(['agent', '--server', branch.address.url, '--client-id', 'tls-pc', '--cache', path.join(tempDir(), 'cache'), '--exec', 'true', '--ca', c.caPath, '--json', '-t', c.file], { env: { SLUICE_ENDPOINT_TOKEN: ENDPOINT_TOKEN } });
    assert.ok(agent.stdout, agent.stderr);
    const result = JSON.parse(agent.stdout) as { installed: { id: string; status: string }[] };
    assert.ok(result.installed.some((i) => i.id === rel.id && i.status === 'succeeded'), agent.stderr);
  });

  it('a node holding a certificate from another CA replicates nothing, and the refusal is counted', async () => {
    const otherCa = tempDir();
    await createCa(otherCa);
    await issueNodeCert({ caDir: otherCa, name: 'rogue', hosts: ['127.0.0.1'], outDir: otherCa });
    const before = await metric(hq, 'sluice_tls_handshake_failures_total{reason="unknown_ca"}');
    const rogue = await startNode(c.topology, 'rogue', { ...c.secrets, tlsDir: otherCa });
    await waitFor('the refusal to be counted at head office', async () => (await metric(hq, 'sluice_tls_handshake_failures_total{reason="unknown_ca"}')) > before);
    assert.equal(rogue.catalog.seq, 0, 'nothing replicated');
    await rogue.close();
  });

  it('a branch pushing figures for a site outside its subtree is refused whole; head office\'s report is unchanged', async () => {
    const b2 = nodeCertPaths(path.dirname(c.caPath), 'b2');
    const asB2 = new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8'), cert: readFileSync(b2.certPath, 'utf8'), key: readFileSync(b2.keyPath, 'utf8') } });
    const reportBefore = await (await request(`${base}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json();
    const forged = { clients: 999, packages: { 'over-tls@1': { succeeded: 999 } }, failures: [] };
    const push = (body: unknown) => request(`${base}/v1/reports/rollup`, { dispatcher: asB2, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const refused = await push({ node: 'b2', nodes: { b2: forged, hq: forged } });
    assert.equal(refused.statusCode, 403);
    assert.match(((await refused.body.json()) as { error: { message: string } }).error.message, /"hq", which is not in its subtree/);
    const impersonating = await push({ node: 'hub', nodes: { hub: forged } });
    assert.equal(impersonating.statusCode, 403, 'a node speaks only for itself');
    await impersonating.body.dump();
    assert.equal(await metric(hq, 'sluice_pushes_refused_total{reason="outside_subtree"}'), 1);
    assert.equal(await metric(hq, 'sluice_pushes_refused_total{reason="wrong_node"}'), 1);
    const reportAfter = await (await request(`${base}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json();
    // The sites the forged pushes named are unchanged (others may move as real rollups arrive).
    const pick = (r: unknown) => { const sites = (r as { sites: Record<string, unknown> }).sites; return { hq: sites.hq, hub: sites.hub }; };
    assert.deepEqual(pick(reportAfter), pick(reportBefore));
    const own = await push({ node: 'b2', nodes: { b2: forged } });
    assert.equal(own.statusCode, 200, 'its own figures are accepted');
    await own.body.dump();
    await asB2.close();
  });

  it('a certificate replaced on disk during a transfer: the transfer completes, new handshakes use the new certificate', async () => {
    // The hub serves its branch; renew the hub's certificate while a throttled transfer runs.
    const reloadC = await makeCluster([{ name: 'hq' }, { name: 'edge', upstream: 'hq', extra: 'region: slow' }], '', ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  slow: { timezone: UTC, schedule: [ { rate: 16MB/s } ], sync: { every: 10m, jitter: 0s } }'], { tls: true });
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(reloadC.caPath, 'utf8') } }));
    const top = await startNode(reloadC.topology, 'hq', reloadC.secrets, {}, { tlsReloadMs: 100 });
    const edge = await startNode(reloadC.topology, 'edge', reloadC.secrets);
    const size = 64 * 1024 * 1024;
    const fingerprint = async () => (await run('sh', ['-c', `echo | openssl s_client -connect ${top.address.host}:${top.address.port} -CAfile ${reloadC.caPath} 2>/dev/null | openssl x509 -noout -fingerprint -sha256`])).stdout.trim();
    const before = await fingerprint();
    const rel = await release(top.address.url, reloadC.dir, 'long', { size });
    const received = () => (edge.status() as { transfers: { offset: number }[] }).transfers[0]?.offset ?? 0;
    await waitFor('the transfer to be under way', () => received() > size / 8, 20_000);
    await issueNodeCert({ caDir: path.dirname(reloadC.caPath), name: 'hq', hosts: ['127.0.0.1', 'localhost'], outDir: path.dirname(reloadC.caPath) });
    await waitFor('new handshakes to present the new certificate', async () => (await fingerprint()) !== before, 10_000);
    assert.ok(received() < size, 'renewed while the transfer was still running');
    await waitFor('the transfer to complete', () => holdsExactly(edge, rel.content), 30_000);
    assert.equal(await metric(edge, 'sluice_transfer_resumes_total'), 0, 'completed on its original connection');
    assert.equal(await metric(edge, 'sluice_transfer_retries_total'), 0);
  });

  it('sluice check --node validates the certificate a node would use, naming the command that fixes each problem', async () => {
    const tlsDir = path.dirname(c.caPath);
    const check = (dir: string) => {
      const p = nodeCertPaths(dir, 'hq');
      return runCli(['check', '--node', 'hq', '-t', c.file], { env: { SLUICE_TLS_CERT: p.certPath, SLUICE_TLS_KEY: p.keyPath } });
    };
    const good = await check(tlsDir);
    assert.equal(good.code, 0, good.stderr);
    const other = tempDir();
    await createCa(other);
    await issueNodeCert({ caDir: other, name: 'hq', hosts: ['127.0.0.1'], outDir: other });
    const foreign = await check(other);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /TLS_INVALID.*not issued by trust\.ca.*sluice cert node hq/);
    const wrongHost = tempDir();
    await issueNodeCert({ caDir: tlsDir, name: 'hq', hosts: ['10.9.9.9'], outDir: wrongHost });
    const mismatch = await check(wrongHost);
    assert.match(mismatch.stderr, /does not cover 127\.0\.0\.1.*name mismatch/);
    const soon = tempDir();
    await issueNodeCert({ caDir: tlsDir, name: 'hq', hosts: ['127.0.0.1'], outDir: soon, days: 10 });
    const expiring = await check(soon);
    assert.equal(expiring.code, 0);
    assert.match(expiring.stderr, /expires in 9 days.*renew it with "sluice cert node hq/);
    const unreadable = await runCli(['check', '--node', 'hq', '-t', c.file], { env: { SLUICE_TLS_CERT: '/nonexistent.crt', SLUICE_TLS_KEY: '/nonexistent.key' } });
    assert.match(unreadable.stderr, /cannot read the certificate \/nonexistent\.crt \(no such file\)/);
  });

  it('sluice check warns for every plain http:// url beyond this machine', async () => {
    const yaml = readFileSync(c.file, 'utf8').replace(/(b2: \{ url: ")https:\/\/127\.0\.0\.1:\d+/, '$1http://10.0.0.5:7400');
    const file = path.join(c.dir, 'plain.yaml');
    writeFileSync(file, yaml);
    const r = await runCli(['check', '-t', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /nodes\.b2\.url http:\/\/10\.0\.0\.5:7400 is plain HTTP beyond this machine/);
    assert.doesNotMatch(r.stderr, /nodes\.hq\.url/);
  });

  it('an expired client certificate is refused and counted; an upstream whose certificate does not cover its host is refused by the node', async () => {
    const tlsDir = path.dirname(c.caPath);
    const expiredDir = tempDir();
    await issueNodeCert({ caDir: tlsDir, name: 'rogue', hosts: ['127.0.0.1'], outDir: expiredDir, validFrom: new Date(Date.now() - 10 * 86_400_000), days: 1 });
    const before = await metric(hq, 'sluice_tls_handshake_failures_total{reason="expired"}');
    const stale = await startNode(c.topology, 'rogue', { ...c.secrets, tlsDir: expiredDir });
    await waitFor('the expired certificate to be refused', async () => (await metric(hq, 'sluice_tls_handshake_failures_total{reason="expired"}')) > before);
    assert.equal(stale.catalog.seq, 0);
    await stale.close();

    // hq presents a certificate for another host: its child refuses to talk to it.
    const m = await makeCluster([{ name: 'top' }, { name: 'child', upstream: 'top' }], '', undefined, { tls: true });
    const mDir = path.dirname(m.caPath);
    await issueNodeCert({ caDir: mDir, name: 'top', hosts: ['10.9.9.9'], outDir: mDir });
    await startNode(m.topology, 'top', m.secrets);
    const child = await startNode(m.topology, 'child', m.secrets);
    await waitFor('the name mismatch to be counted by the child', async () => (await metric(child, 'sluice_tls_handshake_failures_total{reason="name_mismatch"}')) >= 1);
    assert.equal(child.catalog.seq, 0);
  });
});

describe('plain HTTP with one token per node', () => {
  it('a push with a node\'s own token is that node\'s; claiming another node or another subtree is refused', async () => {
    const p = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'b2', upstream: 'hq' }]);
    const tokens = { hub: 'hub-token-0123456789abcdef', b2: 'b2-token-0123456789abcdef' };
    const top = await startNode(p.topology, 'hq', { ...p.secrets, childTokens: `hub=${tokens.hub},b2=${tokens.b2}` });
    const hubNode = await startNode(p.topology, 'hub', { ...p.secrets, peerToken: tokens.hub });
    await waitFor('the hub\'s status at head office (its own token)', () => top.status().children.hub !== null);
    const push = async (token: string, body: unknown) => {
      const res = await request(`${p.topology.nodes.get('hq')!.url}/v1/reports/rollup`, { dispatcher: new Agent(), method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
      await res.body.dump();
      return res.statusCode;
    };
    const summary = { clients: 1, packages: {}, failures: [] };
    assert.equal(await push(tokens.b2, { node: 'hub', nodes: { hub: summary } }), 403, 'b2\'s token cannot speak for hub');
    assert.equal(await push(tokens.b2, { node: 'b2', nodes: { b2: summary, hub: summary } }), 403, 'nor for a site outside its subtree');
    assert.equal(await push(p.secrets.peerToken, { node: 'b2', nodes: { b2: summary } }), 403, 'the tree-wide token is not accepted once per-node tokens are set');
    assert.equal(await push(tokens.b2, { node: 'b2', nodes: { b2: summary } }), 200);
    assert.ok(hubNode);
  });
});
