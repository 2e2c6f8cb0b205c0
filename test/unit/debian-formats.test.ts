import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { parseAll, paragraphs } from '../../src/feeds/deb822.js';
import { compareDebianVersions } from '../../src/feeds/debian-version.js';
import { verifyClearsigned } from '../../src/feeds/openpgp-signature.js';
import { parseRelease } from '../../src/feeds/release-file.js';

const VERSIONS = ['1.0', '1.0-1', '1.0-2', '1.0~rc1', '1.0~rc1-1', '1.0+dfsg-1', '1.0.1', '1.00', '1:0.9', '2:0', '0:1.0', '1.0a', '1.0~~', '1.0~', '1.0-1ubuntu1', '1.0-1+deb12u1', '1.0-1+deb12u10', '3.0.15-1~deb12u1', '3.0.15-1', '10', '9', 'a', '1.2.3-4.5'];

describe('Debian formats', () => {
  it('versions order as dpkg orders them (every pair, against dpkg --compare-versions)', (t) => {
    if (spawnSync('dpkg', ['--version']).error) return t.skip('dpkg is not installed');
    for (const a of VERSIONS) {
      for (const b of VERSIONS) {
        const ours = Math.sign(compareDebianVersions(a, b));
        const lt = spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;
        const eq = spawnSync('dpkg', ['--compare-versions', a, 'eq', b]).status === 0;
        assert.equal(ours, lt ? -1 : eq ? 0 : 1, `${a} vs ${b}`);
      }
    }
  });

  it('deb822: continuation lines, " ." as an empty line, case-insensitive names; a duplicate field or a stray line is refused with its line', async () => {
    const [p, q] = await parseAll('Package: hello\nDescription: short\n long line\n .\n more\n\npackage: second\nVersion: 1\n');
    assert.equal(p!.get('description'), 'short\nlong line\n\nmore');
    assert.equal(q!.get('package'), 'second');
    await assert.rejects(parseAll('A: 1\na: 2\n'), /line 2: field "a" appears twice/);
    await assert.rejects(parseAll('A: 1\nno colon here\n'), /line 2: expected "Field: value"/);
    await assert.rejects(parseAll(' leading continuation\n'), /line 1: a continuation line before any field/);
  });

  it('Release: a path that leaves the suite, a missing Date or a missing SHA256 list is refused', async () => {
    const ok = await parseRelease('Date: Tue, 01 Dec 2026 10:00:00 UTC\nValid-Until: Wed, 02 Dec 2026 10:00:00 UTC\nAcquire-By-Hash: yes\nSHA256:\n ' + 'a'.repeat(64) + ' 10 main/binary-amd64/Packages\n', 'test');
    assert.equal(ok.dateMs, Date.parse('2026-12-01T10:00:00Z'));
    assert.equal(ok.validUntilMs, Date.parse('2026-12-02T10:00:00Z'));
    assert.equal(ok.indexes.get('main/binary-amd64/Packages')!.size, 10);
    await assert.rejects(parseRelease('Date: Tue, 01 Dec 2026 10:00:00 UTC\nSHA256:\n ' + 'a'.repeat(64) + ' 10 ../../etc/passwd\n', 'test'), /FEED_MALFORMED|leaves the suite/);
    await assert.rejects(parseRelease('SHA256:\n ' + 'a'.repeat(64) + ' 10 main/x\n', 'test'), /no Date/);
    await assert.rejects(parseRelease('Date: Tue, 01 Dec 2026 10:00:00 UTC\nMD5Sum:\n abc 10 main/x\n', 'test'), /no SHA256 list/);
  });

  it('deb822: one paragraph is bounded in lines and in bytes, so a paragraph of millions of continuation lines stops at the bound; a field name runs up to its colon', async () => {
    // Read as a stream, as an index is: the bound stops it after 20,000 lines, not at the end.
    let fed = 0;
    const endless = (async function* () {
      yield Buffer.from('Package: bomb\nVersion: 1\n');
      for (; fed < 10_000; fed++) yield Buffer.from(' c\n'.repeat(1000));
    })();
    await assert.rejects(async () => {
      for await (const p of paragraphs(endless)) assert.fail(`no paragraph is whole: ${p.size}`);
    }, /line 20001: a paragraph of more than 20000 lines/);
    assert.ok(fed < 100, `stopped after ${fed} of 10,000 chunks`);
    await assert.rejects(parseAll(`Package: x\nDescription: ${'a'.repeat(600_000)}\n ${'b'.repeat(600_000)}\n`), /line 3: a paragraph of more than 1048576 bytes/);
    await assert.rejects(parseAll('Package: x\nFilename : pool/x.deb\n'), /line 2: "filename " is not a field name/);
    // Many paragraphs, each within the bounds: a whole index of them is read.
    let count = 0;
    for await (const p of paragraphs((async function* () {
      for (let i = 0; i < 100; i++) yield Buffer.from(`Package: p${i}\nDescription: x\n${' y\n'.repeat(500)}\n`.repeat(10));
    })())) count += p.get('package') ? 1 : 0;
    assert.equal(count, 1000);
  });

  it('Release: continuation lines beyond its bound are FEED_TOO_LARGE, not read to the end', async () => {
    await assert.rejects(parseRelease(`Date: Tue, 01 Dec 2026 10:00:00 UTC\nSHA256:\n${' .\n'.repeat(150_000)}`, 'test'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FEED_TOO_LARGE');
      assert.match(err.message, /a paragraph of more than 100000 lines/);
      return true;
    });
  });

  it('InRelease: more signatures than a repository makes (a mirror repeating the vendor\'s, each checked over the whole text) are refused before any is checked', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Test Archive', email: 'archive@example.invalid' }], format: 'object' });
    const text = 'Date: Tue, 01 Dec 2026 10:00:00 UTC\nSHA256:\n';
    const signed = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: privateKey });
    assert.match(await verifyClearsigned(signed, [publicKey], Date.now()), /^Date: Tue/);
    const at = signed.indexOf('-----BEGIN PGP SIGNATURE-----');
    const sig = await openpgp.readSignature({ armoredSignature: signed.slice(at) });
    const list = new openpgp.PacketList<openpgp.SignaturePacket>();
    for (let i = 0; i < 9; i++) list.push(...sig.packets);
    await assert.rejects(verifyClearsigned(signed.slice(0, at) + new openpgp.Signature(list).armor(), [publicKey], Date.now()), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FEED_SIGNATURE');
      assert.match(err.message, /carries 9 signatures; Sluice checks at most 8/);
      return true;
    });
  });
});
