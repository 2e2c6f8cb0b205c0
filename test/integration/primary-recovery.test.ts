import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { seqKey } from '../../src/catalog/catalog-log.js';
import { hashRecord } from '../../src/catalog/records.js';
import type { SluiceNode } from '../../src/daemon.js';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { DEFAULT_TUNING } from '../../src/replicate/tuning.js';
import { openMetaDb, sublevels } from '../../src/store/meta-db.js';
import { revokeCertificates } from '../../src/tls/certificates.js';
import { exited, runCli, spawnCli } from '../helpers/cli.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { onTeardown, tempDir, waitFor } from '../helpers/env.js';
import { converged, holdsExactly, release, sha256 } from '../helpers/replication.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';

/** The sum of a counter over all its labels (matching `labels` when given). */
async function counter(node: SluiceNode, name: string, labels = ''): Promise<number> {
  const text = await node.metrics.scrape();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Records a data directory holds beyond `seq` (staged, never verified), counted on disk. */
async function stagedBeyond(dataDir: string, seq: number): Promise<number> {
  const db = await openMetaDb(dataDir);
  try {
    return (await sublevels(db).records.keys({ gt: seqKey(seq) }).all()).length;
  } finally {
    await db.close();
  }
}

/**
 * A node gone wrong for `sluice recover`, on the loopback port its topology url names: it
 * answers the catalog route with pages of records correctly chained from the primary's own
 * tip, under a head far ahead that no key signed, always `more: true`. It serves at most
 * `cap` records, then answers 503, so the test ends whatever recover does.
 */
async function runawayNode(port: number, from: { seq: number; hash: string }, cap: number) {
  const stats = { served: 0, bytes: 0 };
  let tip = from;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://node');
    const after = Number(url.searchParams.get('after'));
    if (url.pathname !== '/v1/catalog' || after !== tip.seq || stats.served >= cap) {
      res.writeHead(url.pathname === '/v1/catalog' ? 503 : 404);
      return void res.end();
    }
    const limit = Math.min(Number(url.searchParams.get('limit')) || 5000, 5000);
    const records = [];
    const at = new Date().toISOString();
    for (let i = 0; i < limit; i++) {
      const body = { type: 'decline' as const, id: 'junk@1', by: 'runaway', at, seq: tip.seq + 1, prev: tip.hash };
      const record = { ...body, hash: hashRecord(body) };
      records.push(record);
      tip = { seq: record.seq, hash: record.hash };
    }
    const text = JSON.stringify({ records, head: { seq: 1e12, hash: 'f'.repeat(64), expires: new Date(Date.now() + 86_400_000).toISOString(), signature: 'AAAA' }, more: true });
    stats.served += records.length;
    stats.bytes += text.length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  onTeardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  assert.equal((server.address() as AddressInfo).port, port);
  return stats;
}

/** The peak resident memory of a process so far, MiB (Linux: VmHWM). */
function peakRssMiB(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** Starts the node as `sluice serve` in a child process until it is ready; returns its peak memory then. */
async function servePeakRss(c: Awaited<ReturnType<typeof makeCluster>>, name: string): Promise<number> {
  const child = spawnCli(['serve', '--node', name, '-t', c.file], { env: { ...c.env, SLUICE_LOG_LEVEL: 'warn' } });
  onTeardown(() => child.kill('SIGKILL'));
  const url = c.topology.nodes.get(name)!.url;
  try {
    await waitFor(`${name} ready as a child process`, async () => {
      if (child.exitCode !== null) throw new Error(`sluice serve exited: ${child.output()}`);
      return (await request(`${url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200;
    }, 60_000, 50);
    return peakRssMiB(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
}

describe('losing the primary: restore an older backup, then recover from the tree', { concurrency: false }, () => {
  it('the restored primary takes the signed log and lost blobs back from a node; the tree carries on, refusing nothing, fetching nothing twice', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], '', undefined, { tls: true });
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
    const hqSpec = c.topology.nodes.get('hq')!;
    const work = tempDir();
    let hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const a = await release(hq.address.url, work, 'a', { size: 200_000 });
    await converged(branch, hq.catalog.seq);

    // The nightly backup: the stopped primary's data directory.
    await hq.close();
    const backup = path.join(work, 'backup');
    cpSync(hqSpec.dataDir, backup, { recursive: true });
    const backupSeq = hq.catalog.seq;
    hq = await startNode(c.topology, 'hq', c.secrets);

    // The day goes on: more packages reach the branch.
    const b = await release(hq.address.url, work, 'b', { size: 300_000 });
    const small = await release(hq.address.url, work, 'small', { size: 9000 });
    const lostSeq = hq.catalog.seq;
    await converged(branch, lostSeq);
    assert.ok(lostSeq > backupSeq);

    // The primary's disk dies; the backup is restored.
    await hq.close();
    rmSync(hqSpec.dataDir, { recursive: true, force: true });
    cpSync(backup, hqSpec.dataDir, { recursive: true });
    const rejectedBefore = await counter(branch, 'sluice_catalog_rejected_total');
    const receivedBefore = await counter(branch, 'sluice_transfer_bytes_total', 'direction="in"');

    const r = await runCli(['recover', '--from', 'branch', '-t', c.file], { env: { SLUICE_TLS_DIR: path.join(c.dir, 'keys', 'tls') } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`hq: catalog seq ${backupSeq} → ${lostSeq} \\(${lostSeq - backupSeq} records from branch\\); 2 blobs fetched`));

    hq = await startNode(c.topology, 'hq', c.secrets);
    assert.equal(hq.catalog.seq, lostSeq, 'the primary starts where the tree is');
    assert.ok(holdsExactly(hq, b.content) && holdsExactly(hq, small.content) && holdsExactly(hq, a.content), 'the lost blobs came back, byte for byte');
    const d = await release(hq.address.url, work, 'd', { size: 120_000 });
    await converged(branch, hq.catalog.seq);
    assert.ok(holdsExactly(branch, d.content));
    assert.equal(await counter(branch, 'sluice_catalog_rejected_total'), rejectedBefore, 'the branch refused nothing');
    const received = (await counter(branch, 'sluice_transfer_bytes_total', 'direction="in"')) - receivedBefore;
    assert.equal(received, d.content.length, 'only the new package crossed the link');
    assert.equal(sha256(d.content), d.sha);
  });

  it('without recovery the restored primary is refused by the tree (why the runbook recovers first), and recovery from a node that holds no more changes nothing', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const hqSpec = c.topology.nodes.get('hq')!;
    const work = tempDir();
    let hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    await release(hq.address.url, work, 'a');
    await converged(branch, hq.catalog.seq);
    await hq.close();
    const backup = path.join(work, 'backup');
    cpSync(hqSpec.dataDir, backup, { recursive: true });
    hq = await startNode(c.topology, 'hq', c.secrets);
    await release(hq.address.url, work, 'b');
    await converged(branch, hq.catalog.seq);
    await hq.close();
    rmSync(hqSpec.dataDir, { recursive: true, force: true });
    cpSync(backup, hqSpec.dataDir, { recursive: true });

    hq = await startNode(c.topology, 'hq', c.secrets);
    const refused = await waitFor('the primary to answer the branch that it is behind', () => {
      const e = branch.status().lastError;
      return e && !e.clearedAt && /behind the node/.test(e.message) ? e : undefined;
    }, 20_000);
    assert.match(refused.message, /sluice recover --from branch/);
    // The route is public: a made-up node name is neither echoed nor remembered.
    const forged = await request(`${hq.address.url}/v1/catalog?after=999`, { headers: { 'x-sluice-node': 'x'.repeat(200) } });
    assert.equal(forged.statusCode, 400);
    const forgedMessage = ((await forged.body.json()) as { error: { message: string } }).error.message;
    assert.match(forgedMessage, /sluice recover --from NODE/);
    assert.doesNotMatch(forgedMessage, /xxxx/);
    assert.ok(branch.catalog.seq > hq.catalog.seq, 'the branch kept its newer catalog');
    await hq.close();

    const once = await runCli(['recover', '--from', 'branch', '-t', c.file, '--json']);
    assert.equal(once.code, 0, once.stderr);
    const again = await runCli(['recover', '--from', 'branch', '-t', c.file, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).catalog.records, 0, 'a second run finds nothing more to take');
    const wrong = await runCli(['recover', '--from', 'nowhere', '-t', c.file]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /UNKNOWN_NODE: --from nowhere/);
  });

  it('a node that answers "more" for ever is given up after the bounded run every node keeps: nothing it sent stays staged, the primary starts where it was', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const hqSpec = c.topology.nodes.get('hq')!;
    let hq = await startNode(c.topology, 'hq', c.secrets);
    await release(hq.address.url, tempDir(), 'a');
    const tip = { seq: hq.catalog.seq, hash: hq.catalog.tipHash };
    await hq.close();

    // Three times the bound: past it the node answers 503, whatever recover does.
    const bound = DEFAULT_TUNING.unverifiedMaxRecords;
    const page = DEFAULT_TUNING.catalogPage;
    const node = await runawayNode(c.ports[1]!, tip, 3 * bound);
    const r = await runCli(['recover', '--from', 'branch', '-t', c.file], { timeoutMs: 120_000 });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /CATALOG_UNVERIFIED: the catalog of branch does not reach a verified head within the bounds every node keeps \(branch sent \d+ catalog records .* under a head that no key of the root in force signed.*\); nothing was taken\. Recover from another node/);
    assert.ok(node.served <= bound + page, `recover took ${node.served} records (${Math.round(node.bytes / 1048576)} MiB) from a node that never reached a signed head`);
    assert.equal(await stagedBeyond(hqSpec.dataDir, tip.seq), 0, 'nothing staged from that node is left on disk');

    hq = await startNode(c.topology, 'hq', c.secrets);
    assert.deepEqual({ seq: hq.catalog.seq, hash: hq.catalog.tipHash, staged: hq.catalog.receivedTip.seq }, { ...tip, staged: tip.seq });
  });

  it('records staged ahead of the head (a recover cut short, or an unbounded one of an earlier version) are dropped at start with flat memory', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hqSpec = c.topology.nodes.get('hq')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    await release(hq.address.url, tempDir(), 'a');
    const seq = hq.catalog.seq;
    await hq.close();
    // What such a run leaves: a quarter of a million records beyond the signed head.
    const staged = 250_000;
    const db = await openMetaDb(hqSpec.dataDir);
    const { records } = sublevels(db);
    const at = new Date().toISOString();
    for (let from = seq + 1; from <= seq + staged; from += 10_000) {
      const batch = Array.from({ length: Math.min(10_000, seq + staged + 1 - from) }, (_, i) => ({ type: 'put' as const, key: seqKey(from + i), value: { type: 'decline', id: 'junk@1', by: 'runaway', at, seq: from + i, prev: 'a'.repeat(64), hash: 'b'.repeat(64) } }));
      await records.batch(batch);
    }
    await db.close();
    assert.equal(await stagedBeyond(hqSpec.dataDir, seq), staged);

    const discarding = await servePeakRss(c, 'hq');
    assert.equal(await stagedBeyond(hqSpec.dataDir, seq), 0, 'the start dropped them');
    // The same data directory, nothing staged any more: what the node costs anyway.
    const plain = await servePeakRss(c, 'hq');
    process.stdout.write(`# peak memory at start: ${discarding.toFixed(0)} MiB dropping ${staged} staged records, ${plain.toFixed(0)} MiB with none\n`);
    assert.ok(discarding <= plain + 64, `dropping ${staged} staged records took the start to ${discarding.toFixed(0)} MiB (${plain.toFixed(0)} MiB without them)`);
  });

  it('recover checks the node against trust.crl as every node does: a revoked certificate is refused at the handshake, with or without the primary\'s own', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], '', undefined, { tls: true, trust: 'crl: keys/tls/crl.pem' });
    const tlsDir = path.dirname(c.caPath);
    await revokeCertificates({ caDir: tlsDir, crlPath: path.join(tlsDir, 'crl.pem'), certFiles: [], serials: [] });
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets, {}, { tlsReloadMs: 100 });
    await release(hq.address.url, tempDir(), 'a');
    await converged(branch, hq.catalog.seq);
    const seq = hq.catalog.seq;
    await hq.close();

    // From an operator's shell with the topology alone (no certificate of the primary's): the node is read.
    const before = await runCli(['recover', '--from', 'branch', '-t', c.file, '--json']);
    assert.equal(before.code, 0, before.stderr);
    assert.equal(JSON.parse(before.stdout).catalog.after, seq);

    // The branch's certificate is revoked (stolen, say): recover no longer trusts what it serves.
    const revoke = await runCli(['cert', 'revoke', path.join(tlsDir, 'branch.crt'), '--ca-dir', tlsDir]);
    assert.equal(revoke.code, 0, revoke.stderr);
    for (const env of [{}, { SLUICE_TLS_DIR: tlsDir }] as Record<string, string>[]) {
      const r = await runCli(['recover', '--from', 'branch', '-t', c.file], { env });
      assert.equal(r.code, 1, `${JSON.stringify(env)}: ${r.stdout}`);
      assert.match(r.stderr, /UPSTREAM_TLS_REFUSED: reading the catalog of branch .*: the TLS certificate of branch is refused \(revoked, CERT_REVOKED\): its certificate is listed in trust\.crl/, JSON.stringify(env));
    }
  });
});

describe('recovering a primary that publishes APT repositories', { skip: aptToolsMissing(), concurrency: false }, () => {
  it('the files of each ring\'s newest signed index come back with the catalog: the recovered primary serves that index at once', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    repo.addPackage({ name: 'hello', version: '1.0-1' });
    repo.publish();
    const aptKeys = tempDir('sluice-aptkey-');
    await generateRingKeys(aptKeys, ['all', 'pilot']);
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'ring: [pilot]' }],
      ['rings: [pilot]', 'feeds:', `  vendor: { type: apt, url: "${repo.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}" }`].join('\n'),
    );
    const hqSpec = c.topology.nodes.get('hq')!;
    const secrets = { ...c.secrets, aptKeyPath: aptKeys };
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    let hq = await startNode(c.topology, 'hq', secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const served = async (node: SluiceNode, ring: string, rel: string) => {
      const res = await request(`${node.address.url}/apt/${ring}/dists/stable/${rel}`);
      const text = await res.body.text();
      return res.statusCode === 200 ? text : undefined;
    };
    const lists = async (ring: string, version: string) => (await served(branch, ring, 'main/binary-amd64/Packages'))?.includes(`Version: ${version}`);
    assert.equal((await cli('feeds', 'sync', 'vendor')).code, 0);
    assert.equal((await cli('approve', 'hello@1.0-1', '--ring', 'pilot')).code, 0);
    await waitFor('hello 1.0-1 in the pilot index at the branch', () => lists('pilot', '1.0-1'), 30_000);

    // The nightly backup.
    await hq.close();
    const backup = path.join(tempDir(), 'backup');
    cpSync(hqSpec.dataDir, backup, { recursive: true });
    hq = await startNode(c.topology, 'hq', secrets);

    // The day goes on: 2.0-1 approved for all, so both rings get a new signed index.
    repo.addPackage({ name: 'hello', version: '2.0-1' });
    repo.publish();
    assert.equal((await cli('feeds', 'sync', 'vendor')).code, 0);
    assert.equal((await cli('approve', 'hello@2.0-1', '--ring', 'all')).code, 0);
    await waitFor('hello 2.0-1 in both rings\' indexes at the branch', async () => (await lists('pilot', '2.0-1')) && (await lists('all', '2.0-1')), 30_000);
    await waitFor('the branch at the primary\'s catalog', () => branch.catalog.seq === hq.catalog.seq, 30_000);
    await hq.close();
    const newest = new Map(['all', 'pilot'].map((ring) => [ring, branch.catalog.state.aptIndexesOf(ring)[0]!]));
    const inRelease = await served(branch, 'pilot', 'InRelease');
    assert.ok(inRelease);

    // The primary's disk dies; the backup is restored, then recovered from the branch.
    rmSync(hqSpec.dataDir, { recursive: true, force: true });
    cpSync(backup, hqSpec.dataDir, { recursive: true });
    const r = await runCli(['recover', '--from', 'branch', '-t', c.file], { env: c.env });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);

    hq = await startNode(c.topology, 'hq', secrets);
    for (const [ring, index] of newest) {
      assert.equal(hq.catalog.state.aptIndexesOf(ring)[0]?.seq, index.seq);
      const lacking = index.files.filter((f) => !hq.store.has(f.sha256)).map((f) => f.path);
      assert.deepEqual(lacking, [], `the recovered primary lacks files of ring ${ring}'s newest index`);
    }
    assert.equal(await served(hq, 'pilot', 'InRelease'), inRelease, 'the primary serves the newest pilot index at once, as the branch does');
  });
});
