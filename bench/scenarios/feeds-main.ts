import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import { request } from 'undici';
import { ADMIN, startCluster, until } from '../lib/cluster.js';
import { currentRss, peakRss } from '../lib/proc.js';
import { median, table } from '../lib/report.js';
import { defaultsFor, describeEnv, unitEnvironment } from '../lib/unit-env.js';

/** The release suite this machine's apt follows (not -security, not -updates), from its own sources. */
function mainSource(): { url: string; suite: string; keyring: string } | undefined {
  const files = ['/etc/apt/sources.list', ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`) : [])];
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const stanza of readFileSync(file, 'utf8').split(/\n\s*\n/)) {
      const get = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'im').exec(stanza)?.[1]?.trim();
      const suite = get('Suites')?.split(/\s+/).find((s) => !/-(security|updates|backports)$/.test(s));
      const url = get('URIs')?.split(/\s+/)[0];
      if (suite && url && /debian/.test(url)) return { url: url.replace(/\/+$/, ''), suite, keyring: get('Signed-By') ?? '/usr/share/keyrings/debian-archive-keyring.gpg' };
    }
  }
  return undefined;
}

const MiB = 1024 * 1024;

/**
 * The whole of Debian main (amd64) from this machine's mirror as a feed, at hq → hub → two
 * branches: the primary's sync and its memory at its peak, every node holding the catalog and
 * each node's memory at its peak and settled, the catalog's bytes per record on the wire (as
 * nodes fetch it: compact and gzipped) and on disk, and filtered `GET /v1/packages` answers.
 * Targets (the Debian-scale issue): primary ≤ 400 MiB at its peak; every downstream node
 * ≤ 150 MiB; ≤ 400 B a record on the wire and on disk; each filtered answer ≤ 200 ms.
 * hub and b1 run as the systemd unit runs a node (its environment), b2 with Node.js's and
 * glibc's defaults: two branches doing the same work side by side show the settings' share.
 */
export async function feedsMainScenario(): Promise<string> {
  const source = mainSource();
  if (!source) return 'Feeds, Debian main: skipped (no Debian release suite in this machine\'s apt sources)';
  const cluster = await startCluster(
    [{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'b1', upstream: 'hub' }, { name: 'b2', upstream: 'hub' }],
    {
      start: ['hq'],
      // A release suite changes only at point releases: its Release has no Valid-Until and an old Date.
      header: ['feeds:', `  main: { type: apt, url: "${source.url}", suites: [${source.suite}], components: [main], architectures: [amd64], keyring: "${source.keyring}", every: 24h, maxAge: 400d }`].join('\n'),
    },
  );
  const pid = (name: string) => cluster.children.get(name)!.pid!;
  try {
    const feedRow = async () => ((await request(`${cluster.url('hq')}/v1/feeds`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.body.json())) as { feeds: { last: { ok: boolean; added: number; listed: number; durationMs: number; error: { message: string } | null } | null }[] }).feeds[0];
    await until('the first sync at the primary', async () => (await feedRow())?.last !== null, 900_000, 200);
    const first = (await feedRow())!.last!;
    if (!first.ok) throw new Error(`the feed did not sync: ${first.error?.message}`);
    const hqPeak = peakRss(pid('hq'));
    const seq = (await cluster.status('hq')).catalog.seq as number;

    const t0 = performance.now();
    const unit = unitEnvironment();
    const runAs = new Map([['hub', unit], ['b1', unit], ['b2', defaultsFor(unit)]]);
    const how = (n: string) => (n === 'hq' || runAs.get(n) !== unit ? 'defaults' : 'unit');
    for (const [n, env] of runAs) cluster.spawnNode(n, [], env);
    const heldAt = new Map<string, number>();
    await until('every node to hold the catalog', async () => {
      for (const n of ['hub', 'b1', 'b2']) {
        if (heldAt.has(n)) continue;
        const s = await cluster.status(n).catch(() => undefined);
        if ((s?.catalog?.seq ?? 0) >= seq) heldAt.set(n, performance.now() - t0);
      }
      return heldAt.size === 3;
    }, 900_000, 100);
    const peaks = new Map(['hub', 'b1', 'b2'].map((n) => [n, peakRss(pid(n))]));
    // Settled: V8 gives memory back once a node is idle for a while.
    await new Promise((r) => setTimeout(r, 60_000));
    const settled = new Map(['hq', 'hub', 'b1', 'b2'].map((n) => [n, currentRss(pid(n))]));

    // The catalog as a node fetches it: compact pages, gzipped.
    let wire = 0;
    let full = 0;
    let records = 0;
    for (let after = 0; ; ) {
      const url = `${cluster.url('hub')}/v1/catalog?after=${after}&limit=5000`;
      const res = await request(`${url}&compact=1`, { headers: { 'accept-encoding': 'gzip' } });
      const zipped = Buffer.from(await res.body.arrayBuffer());
      const text = res.headers['content-encoding'] === 'gzip' ? await gunzip(zipped) : zipped.toString();
      const page = JSON.parse(text) as { records: { seq: number }[] };
      full += Buffer.byteLength(await request(url).then((r) => r.body.text()));
      if (page.records.length === 0) break;
      wire += zipped.length;
      records += page.records.length;
      after = page.records.at(-1)!.seq;
    }
    const disk = Number(execFileSync('du', ['-sb', `${cluster.dataDir('hub')}/meta`], { encoding: 'utf8' }).split(/\s/)[0]);

    // Filtered answers, as sluice packages and the console ask: at the primary and at a branch.
    const queries = ['/v1/packages?state=new&limit=100', '/v1/packages?source=openssl&limit=1000', '/v1/packages?name=bash&limit=100', '/v1/packages?q=libssl&limit=100', '/v1/packages?feed=main&state=approved&limit=100', '/ui/packages?state=new', '/ui/packages?q=libssl&page=2'];
    const timings: string[][] = [];
    for (const node of ['hq', 'b1']) {
      for (const q of queries) {
        const ms: number[] = [];
        let total = '';
        for (let i = 0; i < 5; i++) {
          const t = performance.now();
          const res = await request(`${cluster.url(node)}${q}`);
          const text = await res.body.text();
          ms.push(performance.now() - t);
          total = res.statusCode !== 200 ? `HTTP ${res.statusCode}` : q.startsWith('/v1/') ? String((JSON.parse(text) as { total: number }).total) : `${(text.length / 1024).toFixed(0)} KiB page`;
        }
        timings.push([node, q, `${median(ms).toFixed(0)} ms`, total, median(ms) <= 200 ? 'met' : 'NOT met']);
      }
    }
    const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
    const rows = [
      ['primary: first sync of the whole suite', `${(first.durationMs / 1000).toFixed(1)} s`, `${first.listed} versions listed, ${first.added} added`, ''],
      ['primary: RSS at its peak during the sync', mib(hqPeak), 'target ≤ 400 MiB', hqPeak <= 400 * MiB ? 'met' : 'NOT met'],
      ...['hub', 'b1', 'b2'].map((n) => [`${n}: holds the whole catalog after`, `${(heldAt.get(n)! / 1000).toFixed(1)} s`, `${seq} records`, '']),
      ...['hub', 'b1', 'b2'].map((n) => [`${n} (${how(n)}): RSS at its peak / settled (60 s idle)`, `${mib(peaks.get(n)!)} / ${mib(settled.get(n)!)}`, 'target ≤ 150 MiB', settled.get(n)! <= 150 * MiB ? (peaks.get(n)! <= 150 * MiB ? 'met' : 'met settled, not at peak') : 'NOT met']),
      ['primary: RSS settled', mib(settled.get('hq')!), '', ''],
      ['catalog on the wire (compact, gzip)', `${(wire / records).toFixed(0)} B/record`, `full JSON: ${(full / records).toFixed(0)} B/record`, wire / records <= 400 ? 'met' : 'NOT met'],
      ['catalog on disk (hub LevelDB)', `${(disk / records).toFixed(0)} B/record`, `${mib(disk)} for ${records} records`, disk / records <= 400 ? 'met' : 'NOT met'],
    ];
    return [
      `Feeds, Debian main: the whole ${source.suite} main (amd64) from this machine's mirror, hq → hub → b1, b2`,
      table(['what', 'figure', 'detail', 'target'], rows),
      `unit: as deploy/systemd/sluice@.service runs a node (${describeEnv(unit)}); defaults: Node.js's and glibc's`,
      '',
      'GET /v1/packages, filtered (median of 5)',
      table(['node', 'query', 'answer', 'matches', '≤ 200 ms'], timings),
    ].join('\n');
  } finally {
    await cluster.stop();
  }
}

function gunzip(b: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const z = createGunzip();
    z.on('data', (c: Buffer) => parts.push(c));
    z.on('end', () => resolve(Buffer.concat(parts).toString()));
    z.on('error', reject);
    z.end(b);
  });
}
