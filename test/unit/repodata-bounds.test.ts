import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isSluiceError } from '../../src/errors.js';
import { readPrimary, type RpmEntry } from '../../src/feeds/primary-index.js';
import { parseRepomd } from '../../src/feeds/repomd.js';
import { readUpdateinfo } from '../../src/feeds/updateinfo.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const pkg = (name: string, extra = '') => `<package type="rpm"><name>${name}</name><arch>x86_64</arch><version epoch="0" ver="1.0" rel="1"/><checksum type="sha256" pkgid="YES">${'a'.repeat(64)}</checksum><size package="10" installed="1" archive="1"/><location href="Packages/${name}-1.0-1.x86_64.rpm"${extra}/><format><rpm:sourcerpm>${name}-1.0-1.src.rpm</rpm:sourcerpm></format></package>`;
const primary = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">${body}</metadata>`;

/** Reads a primary.xml given as gzip, bounded as the sync bounds it: by the open size and checksum when given. */
async function read(text: string | Buffer, o: { open?: boolean; limit?: number } = {}): Promise<RpmEntry[]> {
  const plain = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const out: RpmEntry[] = [];
  const open = o.open ? { size: plain.length, sha256: sha(plain) } : undefined;
  await readPrimary(Readable.from([gzipSync(plain)]), { suffix: '.gz', limit: o.limit ?? (open ? plain.length : 1024 * 1024), ...(open ? { open } : {}) }, 'primary.xml', (p) => void out.push(p));
  return out;
}

const refused = async (p: Promise<unknown>, code: string, pattern: RegExp) => {
  await assert.rejects(p, (err) => isSluiceError(err, code as never) && pattern.test((err as Error).message));
};

describe('repodata read within bounds, whoever signed it', () => {
  it('reads a package; refuses nesting, long text, a decompression bomb, a size or checksum other than repomd.xml gives, entities, xml:base and paths leaving the repository', async () => {
    const [hello] = await read(primary(pkg('hello')), { open: true });
    assert.deepEqual({ ...hello }, { name: 'hello', epoch: '0', version: '1.0', release: '1', arch: 'x86_64', href: 'Packages/hello-1.0-1.x86_64.rpm', size: 10, sha256: 'a'.repeat(64), sourceRpm: 'hello-1.0-1.src.rpm' });
    await refused(read(primary(`${'<x>'.repeat(40)}${'</x>'.repeat(40)}`)), 'FEED_TOO_LARGE', /nested more than 32 deep/);
    await refused(read(primary(`<package type="rpm"><description>${'d'.repeat(2 * 1024 * 1024)}</description></package>`), { limit: 8 * 1024 * 1024 }), 'FEED_TOO_LARGE', /characters/);
    // 100 MB of spaces: gzip packs them into ~100 KB; without an open size, 50 times is the bound (here 1 MiB).
    await refused(read(Buffer.alloc(100 * 1024 * 1024, ' ')), 'FEED_TOO_LARGE', /decompresses to more than/);
    const good = Buffer.from(primary(pkg('hello')));
    await refused(readPrimary(Readable.from([gzipSync(good)]), { suffix: '.gz', limit: good.length - 1, open: { size: good.length - 1, sha256: sha(good) } }, 'primary.xml', () => undefined), 'FEED_HASH_MISMATCH', /more than the \d+ bytes repomd.xml gives/);
    await refused(readPrimary(Readable.from([gzipSync(good)]), { suffix: '.gz', limit: good.length, open: { size: good.length, sha256: 'b'.repeat(64) } }, 'primary.xml', () => undefined), 'FEED_HASH_MISMATCH', /repomd.xml gives/);
    await refused(read(`<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><metadata><package type="rpm"><name>&b;</name></package></metadata>`), 'FEED_MALFORMED', /not well-formed XML/);
    await refused(read(primary(pkg('hello', ' xml:base="http://elsewhere.example/"'))), 'FEED_MALFORMED', /xml:base/);
    await refused(read(primary(pkg('hello').replace('Packages/hello', '../../etc/hello'))), 'FEED_MALFORMED', /leaves the repository/);
    await refused(read(primary(pkg('hello').replace('type="sha256"', 'type="md5"'))), 'FEED_MALFORMED', /only sha256 is trusted/);
    await refused(read(primary('<package type="rpm"><name>x')), 'FEED_MALFORMED', /not well-formed/);
  });

  it('repomd.xml: sha256 only, a primary, a timestamp; updateinfo: advisories with their packages, an id that is an identifier', async () => {
    const repomd = (data: string) => Buffer.from(`<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>7</revision>${data}</repomd>`);
    const entry = (type: string, o: { sum?: string; href?: string; time?: boolean } = {}) => `<data type="${type}"><checksum type="${o.sum ?? 'sha256'}">${'c'.repeat(64)}</checksum><location href="${o.href ?? `repodata/x-${type}.xml.gz`}"/>${o.time === false ? '' : '<timestamp>1700000000</timestamp>'}<size>5</size></data>`;
    const ok = await parseRepomd(repomd(entry('primary') + entry('updateinfo')), 'repomd.xml');
    assert.equal(ok.dateMs, 1_700_000_000_000);
    assert.deepEqual([...ok.data.keys()], ['primary', 'updateinfo']);
    await refused(parseRepomd(repomd(entry('primary', { sum: 'sha1' })), 'repomd.xml'), 'FEED_MALFORMED', /only sha256/);
    await refused(parseRepomd(repomd(entry('other')), 'repomd.xml'), 'FEED_MALFORMED', /no primary/);
    await refused(parseRepomd(repomd(entry('primary', { href: '../x.xml.gz' })), 'repomd.xml'), 'FEED_MALFORMED', /leaves the repository/);
    await refused(parseRepomd(repomd(entry('primary', { time: false })), 'repomd.xml'), 'FEED_MALFORMED', /no timestamp/);

    const advisories: import('../../src/feeds/updateinfo.js').Advisory[] = [];
    const xml = Buffer.from(`<updates><update type="security" status="stable"><id>RHSA-2024:1234</id><title>Important: x</title><severity>Important</severity><references><reference href="h" id="CVE-2024-1" type="cve" title="t"/></references><pkglist><collection><package name="x" epoch="1" version="2" release="3" arch="noarch" src="x-2-3.src.rpm"><filename>x-2-3.noarch.rpm</filename></package></collection></pkglist></update></updates>`);
    await readUpdateinfo(Readable.from([xml]), { suffix: '', limit: xml.length }, 'updateinfo.xml', (a) => void advisories.push(a));
    assert.deepEqual(advisories.map((a) => [a.id, a.severity, a.references[0]!.id, a.packages]), [['RHSA-2024:1234', 'Important', 'CVE-2024-1', [{ name: 'x', epoch: '1', version: '2', release: '3', arch: 'noarch', filename: 'x-2-3.noarch.rpm', src: 'x-2-3.src.rpm' }]]]);
    const bad = Buffer.from('<updates><update type="security"><id>bad id with spaces</id></update></updates>');
    await refused(readUpdateinfo(Readable.from([bad]), { suffix: '', limit: bad.length }, 'updateinfo.xml', () => undefined), 'FEED_MALFORMED', /not a plain identifier/);
  });

  it("updateinfo: an advisory of a million made-up elements holds nothing of them (the primary's memory stays flat)", async () => {
    const fields = 2_000_000;
    async function* xml(): AsyncGenerator<Buffer> {
      yield Buffer.from('<?xml version="1.0"?><updates><update type="security"><id>X-2024:1</id><title>real</title>');
      for (let i = 0; i < fields; i += 10_000) {
        let s = '';
        for (let j = i; j < i + 10_000; j++) s += `<f${j}>${'v'.repeat(16)}</f${j}>`;
        yield Buffer.from(s);
      }
      yield Buffer.from('</update></updates>');
    }
    const before = process.memoryUsage().heapUsed;
    let grown = Number.POSITIVE_INFINITY;
    let title = '';
    // Measured while the advisory is handed over: whatever it kept is still reachable then.
    await readUpdateinfo(Readable.from(xml()), { suffix: '', limit: 512 * 1024 * 1024 }, 'updateinfo.xml', (a) => {
      grown = process.memoryUsage().heapUsed - before;
      title = a.title;
    });
    assert.equal(title, 'real');
    assert.ok(grown < 96 * 1024 * 1024, `the heap grew by ${Math.round(grown / 2 ** 20)} MiB reading ${fields} elements`);
  });
});

