import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { ADMIN, startCluster, until } from '../lib/cluster.js';
import { currentRss, peakRss } from '../lib/proc.js';
import { table } from '../lib/report.js';

const MiB = 1024 * 1024;
const NEVRAS = 20_000;
const ADVISORIES = 2_000;

/**
 * A generated RPM repository's metadata: NEVRAS packages (x86_64 and noarch, names with ten
 * versions each, a source rpm each, the size of Fedora's entries) in primary.xml.gz, and
 * ADVISORIES security advisories naming two packages each in updateinfo.xml.gz; repomd.xml
 * unsigned, as Red Hat's. Only metadata: a sync reads no package.
 */
function generatedRepo(): Map<string, Buffer> {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const packages: string[] = [];
  const nevras: { name: string; ver: string; arch: string }[] = [];
  for (let i = 0; i < NEVRAS; i++) {
    const name = `pkg${Math.floor(i / 10)}`;
    const ver = `1.${i % 10}`;
    const arch = i % 7 === 0 ? 'noarch' : 'x86_64';
    nevras.push({ name, ver, arch });
    packages.push(
      `<package type="rpm"><name>${name}</name><arch>${arch}</arch><version epoch="0" ver="${ver}" rel="1.el9"/><checksum type="sha256" pkgid="YES">${randomBytes(32).toString('hex')}</checksum><summary>${name}, a generated package</summary><description>${'A generated package for the benchmark. '.repeat(8)}</description><packager>bench</packager><url>https://example.invalid/</url><time file="1700000000" build="1700000000"/><size package="${100_000 + i}" installed="300000" archive="310000"/><location href="Packages/${name[3]}/${name}-${ver}-1.el9.${arch}.rpm"/><format><rpm:license>MIT</rpm:license><rpm:vendor>bench</rpm:vendor><rpm:group>Unspecified</rpm:group><rpm:buildhost>bench</rpm:buildhost><rpm:sourcerpm>${name}-${ver}-1.el9.src.rpm</rpm:sourcerpm><rpm:header-range start="4504" end="9000"/><rpm:provides><rpm:entry name="${name}" flags="EQ" epoch="0" ver="${ver}" rel="1.el9"/></rpm:provides><rpm:requires><rpm:entry name="glibc"/></rpm:requires><file>/usr/bin/${name}</file></format></package>`,
    );
  }
  const primary = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="${NEVRAS}">\n${packages.join('\n')}\n</metadata>\n`);
  const updates: string[] = [];
  for (let i = 0; i < ADVISORIES; i++) {
    const named = [nevras[i * 10 + 9]!, nevras[i * 10 + 8]!];
    updates.push(`<update from="bench" status="final" type="security" version="1"><id>BENCH-2024:${String(i).padStart(4, '0')}</id><title>Important: update</title><issued date="2024-01-01 00:00:00"/><severity>Important</severity><references><reference href="https://example.invalid/CVE-2024-${i}" id="CVE-2024-${i}" type="cve" title="CVE-2024-${i}"/></references><pkglist><collection>${named.map((n) => `<package name="${n.name}" version="${n.ver}" release="1.el9" epoch="0" arch="${n.arch}"><filename>${n.name}-${n.ver}-1.el9.${n.arch}.rpm</filename></package>`).join('')}</collection></pkglist></update>`);
  }
  const updateinfo = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<updates>\n${updates.join('\n')}\n</updates>\n`);
  const files = new Map<string, Buffer>();
  const now = Math.floor(Date.now() / 1000);
  const data = [
    ['primary', primary],
    ['updateinfo', updateinfo],
  ] as const;
  const entries = data.map(([type, open]) => {
    const gz = gzipSync(open);
    const href = `repodata/${sha(gz)}-${type}.xml.gz`;
    files.set(`/${href}`, gz);
    return `<data type="${type}"><checksum type="sha256">${sha(gz)}</checksum><open-checksum type="sha256">${sha(open)}</open-checksum><location href="${href}"/><timestamp>${now}</timestamp><size>${gz.length}</size><open-size>${open.length}</open-size></data>`;
  });
  files.set('/repodata/repomd.xml', Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>${now}</revision>${entries.join('')}</repomd>\n`));
  return files;
}

/**
 * A generated RPM feed of 20,000 NEVRAs and 2,000 advisories (beside the APT feeds, which
 * need a Debian mirror) at hq → hub → two branches: the primary's sync and its memory at its
 * peak, each node's time to hold the catalog and its memory at its peak and settled, and the
 * catalog's bytes per record. A dnf repository of approved packages is made from their headers
 * (the test suite drives it with the real dnf); this scenario measures the metadata's way in and
 * its fan-out.
 */
export async function feedsRpmScenario(): Promise<string> {
  const files = generatedRepo();
  const vendor = createServer((req, res) => {
    const body = files.get((req.url ?? '/').split('?')[0]!);
    res.writeHead(body ? 200 : 404, body ? { 'content-length': body.length } : {});
    res.end(body);
  });
  await new Promise<void>((resolve) => vendor.listen(0, '127.0.0.1', resolve));
  const keys = mkdtempSync(path.join(tmpdir(), 'sluice-bench-rpmkey-'));
  await generateRingKeys(keys, ['all']);
  const url = `http://127.0.0.1:${(vendor.address() as AddressInfo).port}`;
  const cluster = await startCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'b1', upstream: 'hub' }, { name: 'b2', upstream: 'hub' }], {
    start: ['hq'],
    header: ['feeds:', `  el9: { type: rpm, url: "${url}", architectures: [x86_64], keyring: "${path.join(keys, 'all.asc')}", every: 24h }`].join('\n'),
    env: { SLUICE_APT_KEY: keys },
  });
  const pid = (name: string) => cluster.children.get(name)!.pid!;
  try {
    const feedRow = async () => ((await request(`${cluster.url('hq')}/v1/feeds`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.body.json())) as { feeds: { last: { ok: boolean; added: number; listed: number; durationMs: number; error: { message: string } | null } | null }[] }).feeds[0];
    await until('the first sync at the primary', async () => (await feedRow())?.last !== null, 600_000, 100);
    const first = (await feedRow())!.last!;
    if (!first.ok) throw new Error(`the feed did not sync: ${first.error?.message}`);
    const hqPeak = peakRss(pid('hq'));
    const seq = (await cluster.status('hq')).catalog.seq as number;
    const t0 = performance.now();
    for (const n of ['hub', 'b1', 'b2']) cluster.spawnNode(n);
    const heldAt = new Map<string, number>();
    await until('every node to hold the catalog', async () => {
      for (const n of ['hub', 'b1', 'b2']) {
        if (heldAt.has(n)) continue;
        const s = await cluster.status(n).catch(() => undefined);
        if ((s?.catalog?.seq ?? 0) >= seq) heldAt.set(n, performance.now() - t0);
      }
      return heldAt.size === 3;
    }, 600_000, 100);
    const peaks = new Map(['hub', 'b1', 'b2'].map((n) => [n, peakRss(pid(n))]));
    await new Promise((r) => setTimeout(r, 30_000));
    const settled = new Map(['hq', 'hub', 'b1', 'b2'].map((n) => [n, currentRss(pid(n))]));
    // A resync with nothing new: the cost of following the feed every `every`.
    const t1 = performance.now();
    const again = (await request(`${cluster.url('hq')}/v1/feeds/el9/sync`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.body.json())) as { added: number };
    const resyncMs = performance.now() - t1;
    let bytes = 0;
    let records = 0;
    for (let after = 0; ; ) {
      const page = JSON.parse(await request(`${cluster.url('hub')}/v1/catalog?after=${after}&limit=5000`).then((r) => r.body.text())) as { records: { seq: number }[] };
      if (page.records.length === 0) break;
      for (const r of page.records) bytes += JSON.stringify(r).length + 1;
      records += page.records.length;
      after = page.records.at(-1)!.seq;
    }
    const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
    const primaryBytes = [...files].find(([p]) => p.endsWith('-primary.xml.gz'))![1].length;
    const rows = [
      ['primary: first sync (primary.xml + updateinfo.xml)', `${(first.durationMs / 1000).toFixed(1)} s`, `${first.listed} versions listed, ${first.added} added; primary.xml.gz ${(primaryBytes / 1024).toFixed(0)} KiB`],
      ['primary: RSS at its peak', mib(hqPeak), `settled ${mib(settled.get('hq')!)}`],
      ['primary: resync with nothing new', `${(resyncMs / 1000).toFixed(1)} s`, `${again.added} added`],
      ...['hub', 'b1', 'b2'].map((n) => [`${n}: holds the whole catalog after`, `${(heldAt.get(n)! / 1000).toFixed(1)} s`, `${seq} records; RSS at its peak ${mib(peaks.get(n)!)}, settled ${mib(settled.get(n)!)}`]),
      ['catalog (full JSON)', `${(bytes / Math.max(1, records)).toFixed(0)} B/record`, `${records} records (a publish per NEVRA of x86_64 and noarch, a supersede per newer version)`],
    ];
    return `Feeds, RPM: a generated repository of ${NEVRAS} NEVRAs and ${ADVISORIES} advisories, hq → hub → b1, b2\n${table(['what', 'figure', 'detail'], rows)}`;
  } finally {
    await cluster.stop();
    vendor.close();
    rmSync(keys, { recursive: true, force: true });
  }
}
