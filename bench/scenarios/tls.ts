import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startCluster, until } from '../lib/cluster.js';
import { writeRandomFile } from '../lib/files.js';
import { median, table } from '../lib/report.js';
import { haveTool, startNginx } from '../lib/nginx.js';

const GiB = 1024 ** 3;

/** The streamed synced copy each hop is held to: fetch, write and hash at once, then sync. */
const streamedCopy = (ca: string[], url: string, file: string) => `curl -fsS ${ca.join(' ')} ${url} | tee ${file} | openssl dgst -sha256 -r && sync ${file}`;

/**
 * What TLS costs, in the same run: one hop (approval at the primary → blob verified and
 * stored downstream) over plain HTTP and over mutual TLS, alternating, each against the
 * same copy made by hand over the same transport (nginx serving the blob — with the
 * primary's certificate over TLS — to `curl | tee | openssl dgst`, then `sync`; its digest
 * is checked); then serving from the primary to curl (an outside client, which verifies the
 * certificate against the CA): a 64 MiB blob, and 2,000 requests for a 16 KiB blob 16 in
 * parallel.
 */
export async function tlsScenario(opts: { quick: boolean; reps: number }): Promise<string> {
  const size = opts.quick ? 256 * 1024 ** 2 : GiB;
  const shape = [{ name: 'hq' }, { name: 'direct', upstream: 'hq' }];
  const plain = await startCluster(shape);
  const tls = await startCluster(shape, { tls: true });
  const hop: Record<'plain' | 'tls', number[]> = { plain: [], tls: [] };
  const big: Record<'plain' | 'tls', number[]> = { plain: [], tls: [] };
  const small: Record<'plain' | 'tls', number[]> = { plain: [], tls: [] };
  const copy: Record<'plain' | 'tls', number[]> = { plain: [], tls: [] };
  const haveRefs = haveTool('nginx', 'apt-get install nginx-light') && haveTool('openssl', 'apt-get install openssl');
  const www = { plain: path.join(plain.dir, 'www'), tls: path.join(tls.dir, 'www') };
  const nginx: Partial<Record<'plain' | 'tls', Awaited<ReturnType<typeof startNginx>>>> = {};
  try {
    if (haveRefs) {
      for (const kind of ['plain', 'tls'] as const) mkdirSync(www[kind]);
      nginx.plain = await startNginx(www.plain, plain.dir);
      nginx.tls = await startNginx(www.tls, tls.dir, { cert: path.join(tls.dir, 'keys', 'tls', 'hq.crt'), key: path.join(tls.dir, 'keys', 'tls', 'hq.key') });
    }
    const served: Record<'plain' | 'tls', { big: string; small: string }> = { plain: { big: '', small: '' }, tls: { big: '', small: '' } };
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const [kind, cluster] of [['plain', plain], ['tls', tls]] as const) {
        const file = writeRandomFile(path.join(cluster.dir, `hop-${rep}.bin`), size);
        const pkg = await cluster.publish('hop', String(rep), [file]);
        const sha = pkg.sha[0]!;
        const blob = path.join(cluster.dataDir('direct'), 'blobs', sha.slice(0, 2), sha);
        // From a quiet disk, as the reference: the publish has just written the blob twice.
        spawnSync('sync');
        const started = performance.now();
        await cluster.approve(pkg.id);
        await until(`${kind}: direct to hold the blob`, () => existsSync(blob), 600_000, 2);
        hop[kind].push((performance.now() - started) / 1000);
        const server = nginx[kind];
        if (server) {
          const ref = path.join(www[kind], sha);
          renameSync(file.path, ref);
          chmodSync(ref, 0o644);
          const out = path.join(cluster.dir, 'copy.bin');
          rmSync(out, { force: true });
          spawnSync('sync');
          const t = performance.now();
          const r = spawnSync('bash', ['-o', 'pipefail', '-c', streamedCopy(kind === 'tls' ? ['--cacert', cluster.caPath] : [], `${server.url}/${sha}`, out)], { encoding: 'utf8' });
          copy[kind].push((performance.now() - t) / 1000);
          if (r.status !== 0) throw new Error(`bench: the ${kind} reference copy failed: ${r.stderr}`);
          if (!r.stdout.startsWith(sha)) throw new Error(`bench: the ${kind} reference copy printed ${r.stdout.slice(0, 64)}, not the blob's sha256`);
          rmSync(ref, { force: true });
          rmSync(out, { force: true });
        } else rmSync(file.path, { force: true });
        if (rep === 0) {
          const b = writeRandomFile(path.join(cluster.dir, 'serve-big.bin'), 64 * 1024 * 1024);
          const s = writeRandomFile(path.join(cluster.dir, 'serve-small.bin'), 16 * 1024);
          const served1 = await cluster.publish('serve', '1', [b, s]);
          served[kind] = { big: `${cluster.url('hq')}/v1/blobs/${served1.sha[0]}`, small: `${cluster.url('hq')}/v1/blobs/${served1.sha[1]}` };
        }
      }
      for (const [kind, cluster] of [['plain', plain], ['tls', tls]] as const) {
        const ca = kind === 'tls' ? ['--cacert', cluster.caPath] : [];
        for (let i = 0; i < 3; i++) {
          const r = spawnSync('curl', ['-fsS', ...ca, '-o', '/dev/null', '-w', '%{speed_download}', served[kind].big], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`curl ${served[kind].big}: ${r.stderr}`);
          big[kind].push(Number(r.stdout) / 1e6);
        }
        const config = path.join(cluster.dir, 'urls.txt');
        writeFileSync(config, Array.from({ length: 2000 }, () => `url = "${served[kind].small}"\noutput = "/dev/null"\n`).join(''));
        const t = performance.now();
        const r = spawnSync('curl', ['-fsS', '-Z', '--parallel-max', '16', ...ca, '-K', config], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`curl -Z: ${r.stderr}`);
        small[kind].push(2000 / ((performance.now() - t) / 1000));
      }
    }
  } finally {
    await nginx.plain?.stop();
    await nginx.tls?.stop();
    await plain.stop();
    await tls.stop();
  }
  const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}×`;
  return [
    `TLS: one hop of ${(size / 1024 ** 2).toFixed(0)} MiB (approval → verified downstream) and serving to curl, plain HTTP vs mutual TLS in the same run (median of ${opts.reps} hops, ${opts.reps * 3} big downloads)`,
    table(['what', 'plain HTTP', 'TLS', 'TLS / plain', 'target'], [
      ['one hop', `${median(hop.plain).toFixed(2)} s`, `${median(hop.tls).toFixed(2)} s`, ratio(hop.tls, hop.plain), '≤ 1.3× (time)'],
      ...(haveRefs
        ? [
            ['curl | tee | openssl dgst, sync (from nginx)', `${median(copy.plain).toFixed(2)} s`, `${median(copy.tls).toFixed(2)} s`, ratio(copy.tls, copy.plain), 'reference'],
            ['one hop / that copy', ratio(hop.plain, copy.plain), ratio(hop.tls, copy.tls), '', '≤ 1.2× each (aim 1.0×)'],
          ]
        : []),
      ['64 MiB blob to curl', `${median(big.plain).toFixed(0)} MB/s`, `${median(big.tls).toFixed(0)} MB/s`, ratio(big.tls, big.plain), '≥ 0.7× (rate)'],
      ['16 KiB blob, curl -Z 16 parallel', `${median(small.plain).toFixed(0)} req/s`, `${median(small.tls).toFixed(0)} req/s`, ratio(small.tls, small.plain), 'reported'],
    ]),
  ].join('\n');
}
