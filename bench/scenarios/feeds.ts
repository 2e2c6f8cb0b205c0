import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { fingerprintOf, generateRingKeys } from '../../src/feeds/repository-key.js';
import { sourcesFile } from '../../src/cli/apt-source.js';
import { AptClient } from '../../test/helpers/apt-client.js';
import { CLI, ADMIN, startCluster, until } from '../lib/cluster.js';
import { table } from '../lib/report.js';

/** The security suite this machine's apt follows: from its own sources, never a host written here. */
function securitySource(): { url: string; suite: string; components: string[]; keyring: string } | undefined {
  const files = ['/etc/apt/sources.list', ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`) : [])];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    // deb822 (.sources) stanzas.
    for (const stanza of text.split(/\n\s*\n/)) {
      const get = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'im').exec(stanza)?.[1]?.trim();
      const suite = get('Suites')?.split(/\s+/).find((s) => s.endsWith('-security'));
      const url = get('URIs')?.split(/\s+/)[0];
      if (suite && url) return { url: url.replace(/\/+$/, ''), suite, components: (get('Components') ?? 'main').split(/\s+/), keyring: get('Signed-By') ?? '/usr/share/keyrings/debian-archive-keyring.gpg' };
    }
    // One-line entries.
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+-security)\s+(.+)$/m.exec(text);
    if (line) return { url: line[1]!.replace(/\/+$/, ''), suite: line[2]!, components: line[3]!.split(/\s+/), keyring: '/usr/share/keyrings/debian-archive-keyring.gpg' };
  }
  return undefined;
}

/**
 * A real vendor feed: the whole security suite of the Debian mirror this machine's apt uses,
 * synced into a 3-tier tree (hq → hub → branch). Measured: the metadata sync at the primary,
 * catalog records and bytes added (per version), the time until every tier holds that catalog;
 * then three real packages approved, fetched by the primary from the mirror and replicated,
 * and the real apt-get downloads them from the branch. Needs the network to that mirror.
 */
export async function feedsScenario(): Promise<string> {
  const source = securitySource();
  if (!source) return 'Feeds: skipped (no "-security" suite in this machine\'s apt sources)';
  const keys = mkdtempSync(path.join(tmpdir(), 'sluice-bench-aptkey-'));
  await generateRingKeys(keys, ['all']);
  // The primary alone first: its first sync runs as it starts; hub and branch start empty after.
  const cluster = await startCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hub' }], {
    start: ['hq'],
    header: ['feeds:', `  security: { type: apt, url: "${source.url}", suites: [${source.suite}], components: [main], architectures: [amd64], keyring: "${source.keyring}", every: 24h }`].join('\n'),
    env: { SLUICE_APT_KEY: keys },
  });
  const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args, '-t', cluster.file], { env: { ...process.env, SLUICE_TOKEN: ADMIN }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const catalogBytes = async (name: string) => {
    let after = 0;
    let bytes = 0;
    let records = 0;
    for (;;) {
      const text = await request(`${cluster.url(name)}/v1/catalog?after=${after}&limit=5000`).then((r) => r.body.text());
      const page = JSON.parse(text) as { records: { seq: number }[]; more: boolean };
      for (const r of page.records) bytes += JSON.stringify(r).length + 1;
      records += page.records.length;
      if (page.records.length === 0) return { records, bytes };
      after = page.records.at(-1)!.seq;
    }
  };
  try {
    type FeedRow = { last: { ok: boolean; added: number; listed: number; durationMs: number; error: { message: string } | null } | null };
    const feedsNow = () => JSON.parse(cli('feeds', '--json')) as FeedRow[];
    await until('the first sync at the primary', () => feedsNow()[0]?.last !== null, 600_000, 200);
    const first = feedsNow()[0]!.last!;
    if (!first.ok) throw new Error(`the feed did not sync: ${first.error?.message}`);
    const after = await catalogBytes('hq');
    const seq = (await cluster.status('hq')).catalog.seq as number;
    // Hub and branch start empty and take the whole catalog through the tree.
    const t0 = performance.now();
    for (const n of ['hub', 'branch']) cluster.spawnNode(n);
    await until('the branch to hold the catalog', async () => ((await cluster.status('branch').catch(() => undefined))?.catalog?.seq ?? 0) >= seq, 600_000, 50);
    const treeMs = performance.now() - t0;
    // A second sync with nothing new: the cost of following the feed every `every`.
    const t3 = performance.now();
    const again = JSON.parse(cli('feeds', 'sync', 'security', '--json'))[0] as { added: number };
    const resyncMs = performance.now() - t3;

    // Three real packages, the smallest amd64 files: approved, fetched from the mirror, replicated.
    const { packages } = JSON.parse(cli('packages', '--json')) as { packages: { id: string; state: string; files: { size: number; platform?: string }[] }[] };
    const chosen = packages.filter((p) => p.state === 'new' && p.files.length === 1).sort((a, b) => a.files[0]!.size - b.files[0]!.size).slice(0, 3);
    const t1 = performance.now();
    for (const p of chosen) await cluster.approve(p.id);
    const names = chosen.map((p) => p.id.slice(0, p.id.indexOf('@')));
    await until('the three in the branch\'s index', async () => {
      const res = await request(`${cluster.url('branch')}/apt/all/dists/${source.suite}/main/binary-amd64/Packages`);
      const text = await res.body.text();
      return res.statusCode === 200 && names.every((n) => text.includes(`Package: ${n}\n`));
    }, 600_000, 100);
    const approvalMs = performance.now() - t1;
    const armored = readFileSync(path.join(keys, 'all.asc'), 'utf8');
    const clientRoot = mkdtempSync(path.join(tmpdir(), 'sluice-bench-apt-'));
    const apt = new AptClient(clientRoot, sourcesFile({ ring: 'all', base: cluster.url('branch'), armored, fingerprint: await fingerprintOf(armored), suite: source.suite, components: ['main'] }));
    const update = await apt.run('update');
    const t2 = performance.now();
    // `download`: the three files alone (their dependencies live in the main archive, not in this suite).
    const dl = await apt.run('download', ...names);
    const aptMs = performance.now() - t2;
    const fetched = apt.downloaded().size;
    rmSync(clientRoot, { recursive: true, force: true });

    const rows = [
      ['first metadata sync at the primary (whole suite)', `${(first.durationMs / 1000).toFixed(1)} s`, `${first.listed} versions listed, ${first.added} added (state new)`],
      ['catalog after it', `${after.records} records, ${(after.bytes / 1024).toFixed(0)} KiB`, `${Math.round(after.bytes / Math.max(1, after.records))} B per record (a publish per version, a supersede per newer version)`],
      ['fresh hub + branch → whole catalog at the branch', `${(treeMs / 1000).toFixed(1)} s`, 'goal: the whole suite\'s metadata at every node in under 60 s'],
      ['resync with nothing new', `${(resyncMs / 1000).toFixed(1)} s`, `${again.added} added`],
      ['approve 3 → in the branch\'s signed index', `${(approvalMs / 1000).toFixed(1)} s`, chosen.map((p) => `${p.id} (${p.files[0]!.size} B)`).join(', ')],
      ['apt-get update + download of the 3 at the branch', update.code === 0 && dl.code === 0 ? `${(aptMs / 1000).toFixed(1)} s` : `failed (${update.code}/${dl.code})`, `${fetched} .deb files fetched${dl.code ? `: ${dl.out.split('\n').slice(-3).join(' ')}` : ''}`],
    ];
    return `Feeds: the security suite of this machine's Debian mirror (${source.suite}, main, amd64), hq → hub → branch\n${table(['what', 'figure', 'detail'], rows)}`;
  } finally {
    await cluster.stop();
    rmSync(keys, { recursive: true, force: true });
  }
}
