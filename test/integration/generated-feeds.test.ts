import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { request } from 'undici';
import { FixtureAptRepo, aptToolsMissing, xzBomb } from '../helpers/apt-repo.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';

const skip = aptToolsMissing();

/** Generated snapshots: bounded in count, so the file takes seconds. */
const RUNS = 80;
const MiB = 2 ** 20;
const DIR = 'main/binary-amd64';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const xz = (b: Buffer) => execFileSync('xz', ['-0', '-c'], { input: b, maxBuffer: 64 * MiB });

type Compression = '.xz' | '.gz' | '';
const compress = (b: Buffer, c: Compression) => (c === '.xz' ? xz(b) : c === '.gz' ? gzipSync(b) : b);

/** A fault the vendor's own key signs: the index or the Release as written, hashes matching. */
const vendorFault = fc.oneof(
  fc.record({ kind: fc.constant('hugeLine' as const), chars: fc.constantFrom(100_000, 2 * MiB) }),
  fc.record({ kind: fc.constant('continuations' as const), lines: fc.constantFrom(100, 30_000) }),
  fc.record({ kind: fc.constant('controlInField' as const), field: fc.constantFrom('Package', 'Version', 'Architecture', 'Filename', 'Size', 'SHA256', 'Section'), char: fc.constantFrom('\u0000', '\u0007', '\r', '\u2028', '\u0085', ' ', '\t', '\u202e') }),
  fc.record({ kind: fc.constant('continuationOf' as const), field: fc.constantFrom('Package', 'Version', 'Architecture', 'Filename', 'Size', 'SHA256'), line: fc.constantFrom(' .', ' Filename: pool/elsewhere.deb', ' 7') }),
  fc.record({ kind: fc.constant('fieldLine' as const), line: fc.constantFrom('filename: pool/second.deb', 'Filename : pool/spaced.deb', 'Description: x\u2028Filename: pool/sly.deb', `Filename: pool/${'a'.repeat(1100)}.deb`, 'Size: 12 ', 'Size: 1e3', 'Size: -1', `SHA256: ${'g'.repeat(64)}`, 'Version: 1 2') }),
  fc.record({ kind: fc.constant('bytes' as const), op: fc.constantFrom('flip', 'truncate', 'garbage'), at: fc.nat(), garbage: fc.uint8Array({ maxLength: 512 }) }),
  fc.record({ kind: fc.constant('compression' as const), as: fc.constantFrom<Compression | 'garbage'>('.xz', '.gz', '', 'garbage') }),
  fc.record({ kind: fc.constant('bomb' as const), blank: fc.boolean() }),
  fc.record({ kind: fc.constant('release' as const), op: fc.constantFrom('sizePlusOne', 'sizeMinusOne', 'sizeHuge', 'otherHash', 'noDate', 'badDate', 'noSHA256', 'pathOut', 'continuations', 'longLine', 'stale') }),
);

/** A fault of the mirror, after signing: the bytes served differ from the vendor's. */
const mirrorFault = fc.record({
  kind: fc.constant('mirror' as const),
  target: fc.constantFrom('release', 'signature', 'index'),
  op: fc.constantFrom('flip', 'truncate', 'append', 'replace', 'missing', 'bomb', 'big', 'manyLines', 'swapCompression', 'repeatSignature'),
  at: fc.nat(),
  garbage: fc.uint8Array({ minLength: 1, maxLength: 2048 }),
});

const snapshot = fc.record({
  extra: fc.array(fc.constantFrom('alpha', 'beta', 'common'), { maxLength: 3 }),
  compression: fc.constantFrom<Compression>('.xz', '.gz', ''),
  listPlain: fc.boolean(),
  byHash: fc.boolean(),
  inRelease: fc.boolean(),
  validUntil: fc.boolean(),
  fault: fc.oneof({ weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) }, { weight: 4, arbitrary: vendorFault }, { weight: 3, arbitrary: mirrorFault }),
});
type Snapshot = typeof snapshot extends fc.Arbitrary<infer T> ? T : never;

/** The signature packets of an InRelease or a Release.gpg, each repeated: still the vendor's, a dozen times over. */
async function repeatSignatures(bytes: Buffer, times: number): Promise<Buffer> {
  const text = bytes.toString('latin1');
  const at = text.indexOf('-----BEGIN PGP SIGNATURE-----');
  if (at < 0) return Buffer.concat(new Array<Buffer>(times).fill(bytes));
  const sig = await openpgp.readSignature({ armoredSignature: text.slice(at) });
  const list = new openpgp.PacketList<openpgp.SignaturePacket>();
  for (let i = 0; i < times; i++) list.push(...sig.packets);
  return Buffer.from(text.slice(0, at) + new openpgp.Signature(list).armor(), 'latin1');
}

describe('generated vendor repositories served to a real primary', { skip }, () => {
  it('never a crash, never a 5xx but the FEED_* 502s, the heap bounded; only a genuine, correctly signed snapshot changes the catalog, and what it adds is clean', async (t) => {
    const repo = new FixtureAptRepo();
    await repo.listen();
    const c = await makeCluster([{ name: 'hq' }], ['feeds:', `  vendor: { type: apt, url: "${repo.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}" }`].join('\n'));
    let hq = await startNode(c.topology, 'hq', c.secrets);
    const url = () => hq.address.url;
    // Made once: a paragraph of 8 MB of continuation lines, and 8 MB of blank lines, as xz and gzip.
    const bombs = { xz: xzBomb(8e6), blank: xzBomb(8e6, { blank: true }), gz: gzipSync(Buffer.from(`Package: bomb\n${' c\n'.repeat(2_700_000)}`)) };

    let clock = Date.now() - 3_600_000;
    let serial = 0;
    const codes = new Map<string, number>();

    /** The files a mirror serves for one snapshot, and the ids the genuine one lists. */
    const build = async (s: Snapshot) => {
      const n = ++serial;
      clock += 1000;
      const date = (ms: number) => new Date(ms).toUTCString().replace('GMT', 'UTC');
      // Unique names, and a name that recurs with a newer version (a supersede chain).
      const pkgs = [{ name: `p${n}`, version: '1' }, ...[...new Set(s.extra)].map((name) => ({ name: `${name}${name === 'common' ? '' : n}`, version: `1.${n}` }))];
      const stanza = (p: { name: string; version: string }) =>
        [`Package: ${p.name}`, `Version: ${p.version}`, 'Architecture: amd64', 'Maintainer: Sluice Tests <tests@example.invalid>', `Filename: pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version}_amd64.deb`, `Size: ${1000 + n}`, `SHA256: ${sha256(`${p.name}@${p.version}`)}`, 'Section: utils', 'Description: generated', ' for a property test'].join('\n');
      let text = `${pkgs.map(stanza).join('\n\n')}\n`;
      const f = s.fault;
      let plain = Buffer.from(text);
      let fileCompression: Compression | 'garbage' = s.compression;
      if (f.kind === 'hugeLine') text = text.replace('Section: utils', `Section: utils\nX-Huge: ${'a'.repeat(f.chars)}`);
      if (f.kind === 'continuations') text = text.replace(' for a property test', ' more\n'.repeat(f.lines).trimEnd());
      if (f.kind === 'controlInField') text = text.replace(new RegExp(`^(${f.field}: .)`, 'm'), `$1${f.char}`);
      if (f.kind === 'continuationOf') text = text.replace(new RegExp(`^(${f.field}: .*)$`, 'm'), `$1\n${f.line}`);
      if (f.kind === 'fieldLine') text = text.replace('Section: utils', `Section: utils\n${f.line}`).replace(/^(Filename|Size|SHA256|Version): .*\n(?=[^]*^\1 ?: )/m, '');
      plain = Buffer.from(text);
      if (f.kind === 'bytes') {
        const at = f.at % plain.length;
        plain = f.op === 'flip' ? Buffer.from(plain.map((b, i) => (i === at ? b ^ 0x5a : b))) : f.op === 'truncate' ? plain.subarray(0, at) : Buffer.concat([plain.subarray(0, at), Buffer.from(f.garbage), plain.subarray(at)]);
      }
      if (f.kind === 'compression') fileCompression = f.as;
      let file = fileCompression === 'garbage' ? Buffer.from('not compressed at all, and no Packages either') : compress(plain, fileCompression);
      if (f.kind === 'bomb') {
        file = s.compression === '.gz' ? bombs.gz : f.blank ? bombs.blank : bombs.xz;
        plain = Buffer.alloc(0);
      }
      // A plain index listed beside itself is listed once.
      const listPlain = s.listPlain && s.compression !== '';
      const indexPath = `${DIR}/Packages${s.compression}`;
      const entry = (p: string, b: Buffer) => ` ${sha256(b)} ${String(b.length).padStart(10)} ${p}`;
      let sums = [entry(indexPath, file), ...(listPlain ? [entry(`${DIR}/Packages`, plain)] : [])];
      let release = [
        'Origin: Generated',
        'Suite: stable',
        'Codename: stable',
        `Date: ${date(f.kind === 'release' && f.op === 'stale' ? clock - 8 * 86_400_000 : clock)}`,
        ...(s.validUntil && !(f.kind === 'release' && f.op === 'stale') ? [`Valid-Until: ${date(clock + 86_400_000)}`] : []),
        'Architectures: amd64',
        'Components: main',
        ...(s.byHash ? ['Acquire-By-Hash: yes'] : []),
        'SHA256:',
      ];
      if (f.kind === 'release') {
        const size = file.length;
        if (f.op === 'sizePlusOne' || f.op === 'sizeMinusOne' || f.op === 'sizeHuge') sums = [` ${sha256(file)} ${f.op === 'sizeHuge' ? 10 ** 12 : size + (f.op === 'sizePlusOne' ? 1 : -1)} ${indexPath}`];
        if (f.op === 'otherHash') sums = [` ${sha256('other')} ${size} ${indexPath}`];
        if (f.op === 'noDate') release = release.filter((l) => !l.startsWith('Date:'));
        if (f.op === 'badDate') release = release.map((l) => (l.startsWith('Date:') ? 'Date: the day after tomorrow' : l));
        if (f.op === 'noSHA256') release = release.filter((l) => l !== 'SHA256:');
        if (f.op === 'pathOut') sums.push(` ${sha256('x')} 1 ../../etc/passwd`);
        if (f.op === 'continuations') sums = sums.concat(new Array<string>(150_000).fill(' .'));
        if (f.op === 'longLine') release.splice(1, 0, `Description: ${'d'.repeat(2 * MiB)}`);
      }
      const releaseText = `${[...release, ...(f.kind === 'release' && f.op === 'noSHA256' ? [] : sums)].join('\n')}\n`;
      // gpg clear-signs lines of up to ~20,000 characters; a longer one goes the detached way.
      const inRelease = s.inRelease && !releaseText.split('\n').some((l) => l.length > 19_000);
      const served = new Map<string, Buffer>();
      if (inRelease) served.set('/dists/stable/InRelease', repo.clearsign(releaseText));
      else {
        served.set('/dists/stable/Release', Buffer.from(releaseText));
        served.set('/dists/stable/Release.gpg', repo.detachSign(releaseText));
      }
      const indexUrl = s.byHash ? `/dists/stable/${DIR}/by-hash/SHA256/${sha256(file)}` : `/dists/stable/${indexPath}`;
      served.set(indexUrl, file);
      if (listPlain) served.set(`/dists/stable/${DIR}/Packages`, plain);

      if (f.kind === 'mirror') {
        const signature = inRelease ? '/dists/stable/InRelease' : '/dists/stable/Release.gpg';
        // Signatures are repeated where they are, whatever the target.
        const key = f.op === 'repeatSignature' || f.target === 'signature' ? signature : f.target === 'index' ? indexUrl : inRelease ? '/dists/stable/InRelease' : '/dists/stable/Release';
        const bytes = served.get(key)!;
        const at = f.at % Math.max(1, bytes.length);
        const alter: Record<typeof f.op, () => Buffer | undefined | Promise<Buffer>> = {
          flip: () => Buffer.from(bytes.map((b, i) => (i === at ? b ^ 0x5a : b))),
          truncate: () => bytes.subarray(0, at),
          append: () => Buffer.concat([bytes, Buffer.from(f.garbage)]),
          replace: () => Buffer.from(f.garbage),
          missing: () => undefined,
          bomb: () => bombs.xz,
          big: () => Buffer.alloc(5 * MiB, 0x61),
          manyLines: () => Buffer.alloc(300_000, 0x0a),
          swapCompression: () => (bytes[0] === 0x1f ? xz(plain) : gzipSync(plain)),
          repeatSignature: () => repeatSignatures(bytes, 12),
        };
        const altered = await alter[f.op]();
        if (altered) served.set(key, altered);
        else served.delete(key);
      }
      return { served, ids: pkgs.map((p) => `${p.name}@${p.version}`), genuine: f.kind === 'none', mirror: f.kind === 'mirror' };
    };

    const heapBase = process.memoryUsage().heapUsed;
    let heapPeak = heapBase;
    const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 10);
    try {
      await fc.assert(
        fc.asyncProperty(snapshot, async (s) => {
          const { served, ids, genuine, mirror } = await build(s);
          repo.overrides.clear();
          for (const [p, b] of served) repo.overrides.set(p, b);
          const before = new Set([...hq.catalog.state.all()].map((p) => p.id));
          const res = await request(`${url()}/v1/feeds/vendor/sync`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
          const body = (await res.body.json()) as { added?: number; error?: { code: string; message: string } };
          const code = res.statusCode === 200 ? '200' : body.error?.code ?? String(res.statusCode);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          const what = `${JSON.stringify(s).slice(0, 400)} → ${res.statusCode} ${JSON.stringify(body).slice(0, 400)}`;
          assert.ok(res.statusCode === 200 || (res.statusCode === 502 && /^FEED_/.test(body.error?.code ?? '')), what);
          const added = [...hq.catalog.state.all()].filter((p) => !before.has(p.id));
          if (genuine) assert.equal(res.statusCode, 200, `a genuine snapshot syncs: ${what}`);
          if (res.statusCode !== 200) assert.deepEqual(added.map((p) => p.id), [], `a failed sync adds nothing: ${what}`);
          // What the mirror altered never adds anything the vendor did not sign.
          if (mirror || genuine) for (const p of added) assert.ok(ids.includes(p.id), `${p.id} is not in the signed snapshot: ${what}`);
          if (res.statusCode === 200 && (mirror || genuine)) for (const id of ids) assert.ok(hq.catalog.state.get(id), `${id} of an accepted snapshot is in the catalog: ${what}`);
          // Whatever was added is clean: one line per value, within what a record carries.
          for (const p of added) {
            assert.match(p.version, /^[0-9A-Za-z][0-9A-Za-z.+_~:-]*$/, what);
            for (const path of p.feed!.paths) assert.match(path, /^[^\s\p{C}]{1,1024}$/u, what);
            for (const f of p.files) assert.ok(Number.isSafeInteger(f.size) && /^[0-9a-f]{64}$/.test(f.sha256), what);
          }
        }),
        { numRuns: RUNS },
      );
    } finally {
      clearInterval(sampler);
    }
    const grown = (heapPeak - heapBase) / MiB;
    t.diagnostic(`answers: ${JSON.stringify(Object.fromEntries([...codes].sort()))}; heap grew ${grown.toFixed(1)} MiB at most`);
    assert.ok(grown < 128, `the heap grew ${grown.toFixed(1)} MiB over ${RUNS} generated snapshots`);
    // The property reached past the signature: snapshots were taken and refused.
    assert.ok((codes.get('200') ?? 0) > 0 && [...codes.keys()].some((k) => k.startsWith('FEED_')), JSON.stringify([...codes]));

    // Everything appended reloads: a restart re-reads and re-checks the whole log.
    const count = [...hq.catalog.state.all()].length;
    await hq.close();
    hq = await startNode(c.topology, 'hq', c.secrets);
    assert.equal([...hq.catalog.state.all()].length, count);
    const ready = await waitFor('the restarted primary ready', async () => (await request(`${url()}/readyz`)).statusCode === 200);
    assert.ok(ready);
  });
});
