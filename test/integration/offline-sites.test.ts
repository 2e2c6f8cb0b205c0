import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { converged, holdsExactly, release } from '../helpers/replication.js';

const MiB = 1024 * 1024;

describe('sites without a usable link: export to a directory, import at the site', () => {
  it('a fresh branch imports a full export, serves it without fetching it again, refuses tampered and old exports, takes an incremental one, then follows the network', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }, { name: 'ship', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const cli = (...args: string[]) => runCli([...args, '-t', c.file, '--json'], { env: c.env });
    const a = await release(hq.address.url, c.dir, 'office', { size: 3 * MiB });
    const b = await release(hq.address.url, c.dir, 'small-fix', { size: 16 * 1024 });
    const s1 = hq.catalog.seq;

    const full = path.join(tempDir(), 'export-full');
    const ex = await cli('export', '--out', full, '--node', 'ship', '--split', '1M');
    assert.equal(ex.code, 0, ex.stderr);
    assert.deepEqual([JSON.parse(ex.stdout).blobs, JSON.parse(ex.stdout).toSeq], [2, s1]);
    const manifest = JSON.parse(readFileSync(path.join(full, 'sluice-export.json'), 'utf8')) as { blobs: { sha256: string; parts: string[] }[] };
    const bigParts = manifest.blobs.find((x) => x.sha256 === a.sha)!.parts;
    assert.equal(bigParts.length, 3, 'a 3 MiB blob in parts of at most 1 MiB');
    // Interrupted before its end (no manifest yet, the last part missing): run again, resumed.
    rmSync(path.join(full, 'sluice-export.json'));
    rmSync(path.join(full, ...bigParts[2]!.split('/')));
    const again = await cli('export', '--out', full, '--node', 'ship', '--split', '1M');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).downloaded, MiB, 'only the missing part was fetched');

    const c2 = await release(hq.address.url, c.dir, 'patch', { size: MiB });
    const inc = path.join(tempDir(), 'export-inc');
    const exInc = await cli('export', '--out', inc, '--node', 'ship', '--since', String(s1));
    assert.equal(exInc.code, 0, exInc.stderr);
    const incManifest = JSON.parse(readFileSync(path.join(inc, 'sluice-export.json'), 'utf8')) as { fromSeq: number; blobs: { sha256: string }[] };
    assert.deepEqual([incManifest.fromSeq, incManifest.blobs.map((x) => x.sha256)], [s1, [c2.sha]], 'only what changed after --since');
    const incRecords = (JSON.parse(readFileSync(path.join(inc, 'catalog.json'), 'utf8')) as { records: { seq: number }[] }).records;
    assert.ok(incRecords.length > 0 && incRecords.every((r) => r.seq > s1));

    // An incremental export cannot go first: the node has not reached its start.
    const gap = await cli('import', inc, '--node', 'branch');
    assert.notEqual(gap.code, 0);
    assert.match(gap.stderr, /IMPORT_GAP.*--since 0/);

    // A flipped byte in one part of a blob: refused whole, with the file named.
    const flipped = path.join(tempDir(), 'flipped');
    cpSync(full, flipped, { recursive: true });
    const victim = path.join(flipped, ...bigParts[1]!.split('/'));
    const bytes = readFileSync(victim);
    bytes[1000] = bytes[1000]! ^ 0xff;
    writeFileSync(victim, bytes);
    const bad = await cli('import', flipped, '--node', 'ship');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, new RegExp(`IMPORT_TAMPERED.*${a.sha}`));

    // An altered catalog record: refused, as a network page would be.
    const altered = path.join(tempDir(), 'altered');
    cpSync(full, altered, { recursive: true });
    const catalogFile = path.join(altered, 'catalog.json');
    const page = JSON.parse(readFileSync(catalogFile, 'utf8')) as { records: { type: string; severity?: string }[] };
    const publish = page.records.find((r) => r.type === 'publish')!;
    publish.severity = publish.severity === 'critical' ? 'low' : 'critical';
    writeFileSync(catalogFile, JSON.stringify(page));
    const forged = await cli('import', altered, '--node', 'ship');
    assert.notEqual(forged.code, 0);
    assert.match(forged.stderr, /CATALOG_CHAIN_BROKEN|CATALOG_SIGNATURE_INVALID/);

    // Nothing of the refused ones is visible: the good export still starts from seq 0.
    const ok = await cli('import', full, '--node', 'ship');
    assert.equal(ok.code, 0, ok.stderr);
    const r1 = JSON.parse(ok.stdout);
    assert.deepEqual([r1.catalog.before, r1.catalog.after, r1.blobs.imported, r1.offline], [0, s1, 2, true]);
    const okInc = await cli('import', inc, '--node', 'ship');
    assert.equal(okInc.code, 0, okInc.stderr);
    assert.deepEqual(JSON.parse(okInc.stdout).blobs.imported, 1);
    // The full export again, now older than the node's catalog: refused.
    const replay = await cli('import', full, '--node', 'ship');
    assert.notEqual(replay.code, 0);
    assert.match(replay.stderr, /CATALOG_ROLLBACK.*older than the catalog node ship holds/);

    // The site starts: it holds everything, fetches none of it, and follows the network from there.
    // (The exports themselves were read through the same proxy: count from here.)
    const sentBefore = [a, b, c2].map((rel) => proxy.bytesSent.get(rel.sha) ?? 0);
    const ship = await startNode(c.topology, 'ship', c.secrets);
    await converged(ship, hq.catalog.seq);
    for (const rel of [a, b, c2]) assert.ok(holdsExactly(ship, rel.content), `${rel.id} imported`);
    assert.deepEqual([a, b, c2].map((rel) => proxy.bytesSent.get(rel.sha) ?? 0), sentBefore, 'nothing imported crossed the network');
    const d = await release(hq.address.url, c.dir, 'later', { size: 256 * 1024 });
    await waitFor('the site to fetch the next package over the network', () => holdsExactly(ship, d.content));
    assert.equal(proxy.bytesSent.get(d.sha), d.content.length);
  });

  it('a disk that travelled for longer than the timestamp lifetime still imports (its age said), --max-age is stricter, and links or FIFOs in an export are refused', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'ship', upstream: 'hq' }], '', undefined, { trust: 'timestampTtl: 2s' });
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const cli = (...args: string[]) => runCli([...args, '-t', c.file, '--json'], { env: c.env, timeoutMs: 30_000 });
    const rel = await release(hq.address.url, c.dir, 'courier', { size: 64 * 1024 });
    const out = path.join(tempDir(), 'export');
    const ex = await cli('export', '--out', out, '--node', 'ship');
    assert.equal(ex.code, 0, ex.stderr);
    const expires = Date.parse((JSON.parse(readFileSync(path.join(out, 'catalog.json'), 'utf8')) as { timestamp: { expires: string } }).timestamp.expires);
    await waitFor('the export\'s timestamp to expire', () => Date.now() > expires + 1000, 10_000, 100);

    // A part replaced by a link to a file outside the export, or by a FIFO: refused, not followed, no hang.
    const manifest = JSON.parse(readFileSync(path.join(out, 'sluice-export.json'), 'utf8')) as { blobs: { sha256: string; parts: string[] }[] };
    const part = manifest.blobs.find((b) => b.sha256 === rel.sha)!.parts[0]!;
    for (const kind of ['link', 'fifo'] as const) {
      const copy = path.join(tempDir(), kind);
      cpSync(out, copy, { recursive: true });
      const victim = path.join(copy, ...part.split('/'));
      rmSync(victim);
      if (kind === 'link') symlinkSync(path.join(c.dir, 'topology.yaml'), victim);
      else execFileSync('mkfifo', [victim]);
      const r = await cli('import', copy, '--node', 'ship');
      assert.notEqual(r.code, 0, `${kind}: ${r.stdout}`);
      assert.match(r.stderr, kind === 'link' ? /IMPORT_INVALID.*symbolic link/ : /IMPORT_INVALID.*not a regular file/);
    }

    const strict = await cli('import', out, '--node', 'ship', '--max-age', '1s');
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /CATALOG_STALE.*--max-age/);
    const ok = await cli('import', out, '--node', 'ship');
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as { catalog: { after: number; ageSeconds: number }; blobs: { imported: number } };
    assert.equal(report.catalog.after, hq.catalog.seq);
    assert.ok(report.catalog.ageSeconds >= 2, `age ${report.catalog.ageSeconds} s`);
    assert.equal(report.blobs.imported, 1);
  });

  it('a running node imports through its API, and its transfers of those blobs end at once', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const rel = await release(hq.address.url, c.dir, 'big', { size: 2 * MiB });
    const dir = path.join(tempDir(), 'export');
    assert.equal((await runCli(['export', '--out', dir, '--node', 'branch', '-t', c.file], { env: c.env })).code, 0);
    // The link is down: the running branch cannot fetch the blob itself.
    proxy.blobFault = 'withhold';
    const branch = await startNode(c.topology, 'branch', c.secrets);
    await waitFor('the branch to know it wants the blob', () => branch.catalog.seq === hq.catalog.seq);
    const r = await runCli(['import', dir, '--node', 'branch', '-t', c.file, '--json'], { env: c.env });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual([report.blobs.imported, report.offline], [1, undefined], 'imported by the running node itself');
    assert.ok(holdsExactly(branch, rel.content));
    await waitFor('nothing left pending', () => (branch.status() as { pending: { blobs: number } }).pending.blobs === 0);
  });

  it('a one-way site\'s endpoint figures travel on a disk: report --export there, report --import at head office, kept across a restart', async () => {
    // The ship pulls from a hub that is never up: no status or report reaches head office.
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'ship', upstream: 'hub' }]);
    let hq = await startNode(c.topology, 'hq', c.secrets);
    const ship = await startNode(c.topology, 'ship', c.secrets);
    // Its catalog came on a disk too: reports count only packages a node has catalogued.
    await release(hq.address.url, c.dir, 'office', { size: 1024 });
    const disk = path.join(tempDir(), 'ship-export');
    assert.equal((await runCli(['export', '--out', disk, '--node', 'ship', '-t', c.file], { env: c.env })).code, 0);
    const taken = await runCli(['import', disk, '--node', 'ship', '-t', c.file], { env: c.env });
    assert.equal(taken.code, 0, taken.stderr);
    const reports = Array.from({ length: 3 }, (_, i) => ({ clientId: `pc${i}`, package: 'office@1', status: i ? 'succeeded' : 'failed', error: i ? undefined : 'exit code 1', at: new Date().toISOString() }));
    const post = await request(`${ship.address.url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ reports }) });
    assert.equal(post.statusCode, 200);
    await post.body.dump();
    const file = path.join(tempDir(), 'ship-reports.json');
    const ex = await runCli(['report', '--export', file, '--node', 'ship', '-t', c.file], { env: c.env });
    assert.equal(ex.code, 0, ex.stderr);
    const shipAt = async () => ((await (await request(`${hq.address.url}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { sites: Record<string, { clients: number; packages: Record<string, Record<string, number>> }> }).sites.ship;
    assert.equal(await shipAt(), undefined, 'nothing reached head office over the network');
    const im = await runCli(['report', '--import', file, '-t', c.file], { env: c.env });
    assert.equal(im.code, 0, im.stderr);
    assert.deepEqual((await shipAt())?.packages['office@1'], { failed: 1, succeeded: 2 });
    await hq.close();
    hq = await startNode(c.topology, 'hq', c.secrets);
    assert.equal((await shipAt())?.clients, 3, 'kept across a restart of head office');
    // A file dated in the future (a wrong clock at the site) does not outrank a later export.
    const future = JSON.parse(readFileSync(file, 'utf8'));
    future.exportedAt = '2099-01-01T00:00:00.000Z';
    future.sites.ship.clients = 99;
    writeFileSync(file, JSON.stringify(future));
    assert.equal((await runCli(['report', '--import', file, '-t', c.file], { env: c.env })).code, 0);
    assert.equal((await shipAt())?.clients, 99);
    assert.equal((await runCli(['report', '--export', file, '--node', 'ship', '-t', c.file], { env: c.env })).code, 0);
    assert.equal((await runCli(['report', '--import', file, '-t', c.file], { env: c.env })).code, 0);
    assert.equal((await shipAt())?.clients, 3, 'the later export replaced the one dated 2099');
    // A file that names a site outside the exporting node's subtree is refused whole.
    const forged = JSON.parse(readFileSync(file, 'utf8'));
    forged.sites.hq = forged.sites.ship;
    writeFileSync(file, JSON.stringify(forged));
    const bad = await runCli(['report', '--import', file, '-t', c.file], { env: c.env });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not in its subtree/);
  });
});
