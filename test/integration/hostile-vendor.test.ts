import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { FixtureAptRepo, aptToolsMissing, xzBomb } from '../helpers/apt-repo.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { exited, spawnCli } from '../helpers/cli.js';
import { onTeardown, tempDir, waitFor } from '../helpers/env.js';

const skip = aptToolsMissing();
const MiB = 2 ** 20;
const XZ = 'main/binary-amd64/Packages.xz';
const PLAIN = 'main/binary-amd64/Packages';

const feeds = (repo: FixtureAptRepo) => ['feeds:', `  vendor: { type: apt, url: "${repo.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}" }`].join('\n');

async function syncNow(url: string): Promise<{ status: number; body: { added?: number; error?: { code: string; message: string } } }> {
  const res = await request(`${url}/v1/feeds/vendor/sync`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: res.statusCode, body: (await res.body.json()) as { added?: number; error?: { code: string; message: string } } };
}

const ids = async (url: string) => ((await (await request(`${url}/v1/packages`)).body.json()) as { packages: { id: string }[] }).packages.map((p) => p.id).sort();

/** The highest resident set size the process has had (Linux), in bytes. */
const peakRss = (pid: number) => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** The largest heapUsed growth of this process while `work` runs, sampled every 5 ms. */
async function heapGrowthDuring<T>(work: () => Promise<T>): Promise<{ result: T; grewBy: number }> {
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { result, grewBy: peak - base };
  } finally {
    clearInterval(sampler);
  }
}

describe('a hostile vendor mirror never takes the primary down', { skip }, () => {
  it('an xz bomb served in place of the signed by-hash Packages.xz: a primary with a 512 MiB heap answers FEED_HASH_MISMATCH (502) and stays up, adds nothing, again after a restart (the feed syncs at start); the next genuine snapshot syncs', async (t) => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    repo.addPackage({ name: 'base', version: '1' });
    repo.publish();
    const c = await makeCluster([{ name: 'hq' }], feeds(repo));
    const url = c.topology.nodes.get('hq')!.url;
    // The primary as production runs it, with the heap the report had: its own process.
    const serve = async () => {
      const child = spawnCli(['serve', '--node', 'hq', '-t', c.file], { env: { ...c.env, NODE_OPTIONS: '--max-old-space-size=512' } });
      onTeardown(() => child.kill('SIGKILL'));
      await waitFor('hq ready', async () => {
        if (child.exitCode !== null) throw new Error(child.output());
        return (await request(`${url}/readyz`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200;
      }, 30_000);
      return child;
    };
    let hq = await serve();
    await waitFor('the sync at start', async () => (await ids(url)).includes('base@1'), 30_000);

    // The mirror serves the genuine InRelease, and a bomb where its by-hash Packages.xz (a few
    // hundred bytes) belongs: 600 MB of one paragraph's continuation lines, ~90 KB as xz.
    repo.addPackage({ name: 'evil', version: '1' });
    repo.publish();
    const byHash = repo.byHashPath(XZ);
    const signedSize = readFileSync(path.join(repo.dir, 'dists/stable', XZ)).length;
    const bomb = xzBomb(600e6);
    assert.ok(bomb.length > 50 * signedSize, `the bomb (${bomb.length} bytes) is larger than the signed file (${signedSize})`);
    repo.overrides.set(byHash, bomb);
    const before = await ids(url);

    const bombed = await syncNow(url);
    assert.equal(bombed.status, 502, JSON.stringify(bombed.body));
    assert.equal(bombed.body.error?.code, 'FEED_HASH_MISMATCH');
    assert.match(bombed.body.error!.message, new RegExp(`more than the ${signedSize} bytes the signed Release lists.*stopped reading`));
    assert.equal(hq.exitCode, null, `the primary is up: ${hq.output().slice(-2000)}`);
    assert.equal((await request(`${url}/readyz`)).statusCode, 200);
    assert.deepEqual(await ids(url), before, 'nothing added');
    // An idle primary resides in ~100 MiB; reading the bomb's text would take 600 MB.
    const peak = peakRss(hq.pid!);
    t.diagnostic(`the primary's peak RSS through the bomb: ${Math.round(peak / MiB)} MiB`);
    assert.ok(peak < 300 * MiB, `peak RSS ${Math.round(peak / MiB)} MiB`);

    // A restart (systemd's answer to a crash): the sync at start meets the bomb again.
    hq.kill('SIGTERM');
    assert.equal((await exited(hq)).code, 0);
    const restartedAt = Date.now();
    const servedBefore = repo.served.length;
    hq = await serve();
    const last = await waitFor('the sync at start to fail', async () => {
      const res = await request(`${url}/v1/feeds`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const { feeds: list } = (await res.body.json()) as { feeds: { last: { at: string; error: { code: string } | null } | null }[] };
      const l = list[0]?.last;
      return l && Date.parse(l.at) >= restartedAt && l.error ? l : undefined;
    }, 30_000);
    assert.equal(last.error!.code, 'FEED_HASH_MISMATCH');
    assert.ok(repo.served.slice(servedBefore).includes(byHash), 'the start sync fetched the bomb');
    assert.equal(hq.exitCode, null, 'up after the sync at start');
    assert.equal((await request(`${url}/readyz`)).statusCode, 200);
    // The feed's alert (no success for two intervals) still has its series after the restart.
    const metrics = (await (await request(`${url}/metrics`)).body.text()).split('\n');
    const series = (name: string, ...labels: string[]) => metrics.find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
    assert.ok(Number(series('sluice_feed_last_success_timestamp_seconds', 'feed="vendor"')?.split(' ').pop()) > 0, 'the last success, as stored');
    assert.ok(Number(series('sluice_feed_sync_failures_total', 'feed="vendor"', 'code="FEED_HASH_MISMATCH"')?.split(' ').pop()) >= 1);
    assert.equal(series('sluice_feed_sync_failures_total', 'feed="vendor"', 'code="FEED_TOO_LARGE"')?.split(' ').pop(), '0', 'the new code is counted from zero');
    assert.ok(peakRss(hq.pid!) < 300 * MiB);

    // The mirror mends: the genuine snapshot syncs.
    repo.overrides.delete(byHash);
    const mended = await syncNow(url);
    assert.equal(mended.status, 200, JSON.stringify(mended.body));
    assert.equal(mended.body.added, 1);
    assert.deepEqual(await ids(url), ['base@1', 'evil@1']);
    hq.kill('SIGTERM');
    assert.equal((await exited(hq)).code, 0);
  });

  it('bombs the vendor\'s own key signed: beyond the signed uncompressed size (FEED_HASH_MISMATCH), beyond 50 times its size with no uncompressed size listed, one paragraph of millions of lines (FEED_TOO_LARGE); and an InRelease a mirror pads to millions of lines: the heap stays flat, nothing is added, and no staging file is left', async (t) => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    repo.addPackage({ name: 'base', version: '1' });
    repo.publish();
    const c = await makeCluster([{ name: 'hq' }], feeds(repo));
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const url = hq.address.url;
    await waitFor('the sync at start', () => hq.catalog.state.get('base@1'), 30_000);
    const seq = hq.catalog.seq;
    const genuine = readFileSync(path.join(repo.dir, 'dists/stable', PLAIN));
    // 32 MB of " c" lines: 10 million lines in one paragraph; and 32 MB of blank lines.
    const bomb = xzBomb(32e6);
    const text = execFileSync('xz', ['-dc'], { input: bomb, maxBuffer: 64 * MiB });
    const blank = xzBomb(32e6, { blank: true });

    const cases: { what: string; files: Record<string, Buffer>; code: string; message: RegExp }[] = [
      { what: 'a Packages.xz larger than the Packages the Release lists', files: { [XZ]: bomb, [PLAIN]: genuine }, code: 'FEED_HASH_MISMATCH', message: new RegExp(`decompresses to more than the ${genuine.length} bytes the signed Release lists for ${PLAIN}`) },
      { what: 'no uncompressed size listed', files: { [XZ]: blank }, code: 'FEED_TOO_LARGE', message: /decompresses to more than 1048576 bytes .* lists no uncompressed size/ },
      { what: 'the uncompressed size listed, honestly', files: { [XZ]: bomb, [PLAIN]: text }, code: 'FEED_TOO_LARGE', message: /line 20001: a paragraph of more than 20000 lines/ },
    ];
    for (const k of cases) {
      repo.publishIndexes(k.files);
      const { result, grewBy } = await heapGrowthDuring(() => syncNow(url));
      t.diagnostic(`${k.what}: heap grew by ${(grewBy / MiB).toFixed(1)} MiB`);
      assert.equal(result.status, 502, `${k.what}: ${JSON.stringify(result.body)}`);
      assert.equal(result.body.error?.code, k.code, k.what);
      assert.match(result.body.error!.message, k.message, k.what);
      // The node runs in this process. A reader holding the paragraph would grow by far more
      // than the 32 MB of text (a string per line: ~1 GB before these bounds).
      assert.ok(grewBy < 64 * MiB, `${k.what}: the heap grew by ${Math.round(grewBy / MiB)} MiB`);
      assert.equal(hq.catalog.seq, seq, `${k.what}: nothing added`);
    }
    assert.deepEqual(readdirSync(path.join(c.topology.nodes.get('hq')!.dataDir, 'tmp')), [], 'the spooled indexes are gone');

    // A mirror pads the genuine InRelease with 2 million empty lines (2 MB): counted before the
    // OpenPGP library, which spends time and memory on every line, is given it.
    repo.publish();
    const padded = Buffer.concat([Buffer.alloc(2_000_000, 0x0a), readFileSync(path.join(repo.dir, 'dists/stable/InRelease'))]);
    repo.overrides.set('/dists/stable/InRelease', padded);
    const { result: lines, grewBy } = await heapGrowthDuring(() => syncNow(url));
    t.diagnostic(`an InRelease of 2 million lines: heap grew by ${(grewBy / MiB).toFixed(1)} MiB`);
    assert.equal(lines.status, 502, JSON.stringify(lines.body));
    assert.equal(lines.body.error?.code, 'FEED_TOO_LARGE');
    assert.match(lines.body.error!.message, /more than 100000 lines .* its signature was not checked/);
    assert.ok(grewBy < 64 * MiB, `the heap grew by ${Math.round(grewBy / MiB)} MiB`);
    assert.equal(hq.catalog.seq, seq);
    repo.overrides.delete('/dists/stable/InRelease');

    repo.addPackage({ name: 'next', version: '1' });
    repo.publish();
    const mended = await syncNow(url);
    assert.equal(mended.status, 200, JSON.stringify(mended.body));
    assert.ok(hq.catalog.state.get('next@1'));
  });

  it('a value Sluice takes spread over lines (a Filename with a continuation line, a Size with one) is refused naming the package; a line separator in a Description cannot move the Filename a ring serves', async () => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const base = repo.addPackage({ name: 'base', version: '1' });
    repo.publish();
    const keys = tempDir('sluice-aptkey-');
    await generateRingKeys(keys, ['all']);
    const c = await makeCluster([{ name: 'hq' }], feeds(repo));
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    const url = hq.address.url;
    await waitFor('the sync at start', () => hq.catalog.state.get('base@1'), 30_000);
    const seq = hq.catalog.seq;
    const genuine = readFileSync(path.join(repo.dir, 'dists/stable', PLAIN), 'utf8');
    const stanza = (name: string, edit: (s: string) => string) => edit(genuine.trim().replace(/^Package: base$/m, `Package: ${name}`));
    const xz = (s: string) => execFileSync('xz', ['-0'], { input: s });

    for (const [name, edit, what] of [
      ['smuggler', (s: string) => s.replace(/^(Filename: .*)$/m, '$1\n Filename: pool/elsewhere.deb'), /Filename .* holds a line break/],
      ['ctrl', (s: string) => s.replace(/^Filename: (.*)$/m, 'Filename: $1\u0007'), /Filename .* holds a line break, a space or a control character/],
      ['sizer', (s: string) => s.replace(/^(Size: \d+)$/m, '$1\n .'), /no Size, or not a whole number on one line/],
    ] as const) {
      const text = `${stanza(name, edit)}\n`;
      repo.publishIndexes({ [PLAIN]: Buffer.from(text), [XZ]: xz(text) });
      const r = await syncNow(url);
      assert.equal(r.status, 502, JSON.stringify(r.body));
      assert.equal(r.body.error?.code, 'FEED_MALFORMED', name);
      assert.match(r.body.error!.message, new RegExp(`package "${name}" "1"`), 'the package is named');
      assert.match(r.body.error!.message, what);
      assert.equal(hq.catalog.seq, seq, `${name}: nothing added`);
    }

    // A Description that holds U+2028 then "Filename:" ahead of the real Filename: a reader
    // taking U+2028 as a line end would rewrite the wrong one and leave the vendor's path.
    const sly = stanza('sly', (s) => s.replace(/^Filename: .*$/m, '').replace(/^Description: (.*)$/m, 'Description: $1\u2028Filename: pool/vendor-only.deb').replace(/\n\n+/g, '\n') + `\nFilename: ${base.filename}`);
    const text = `${sly}\n`;
    repo.publishIndexes({ [PLAIN]: Buffer.from(text), [XZ]: xz(text) });
    const r = await syncNow(url);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(hq.catalog.state.get('sly@1'));
    const approved = await request(`${url}/v1/packages/sly@1/approve`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(approved.statusCode, 200, await approved.body.text());
    const served = await waitFor('sly in the ring\'s index', async () => {
      const res = await request(`${url}/apt/all/dists/stable/main/binary-amd64/Packages`);
      const body = await res.body.text();
      return res.statusCode === 200 && body.includes('Package: sly') ? body : undefined;
    }, 30_000);
    const para = served.split('\n\n').find((p) => p.includes('Package: sly'))!;
    const filenames = para.split('\n').filter((l) => /^filename:/i.test(l));
    assert.deepEqual(filenames, [`Filename: pool/${base.sha256}/${path.basename(base.filename)}`], para);
    assert.match(para, /\u2028Filename: pool\/vendor-only\.deb/, 'the Description as the vendor wrote it');
  });
});
