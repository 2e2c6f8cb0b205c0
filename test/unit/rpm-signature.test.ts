import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isSluiceError } from '../../src/errors.js';
import { loadKeyring } from '../../src/feeds/openpgp-signature.js';
import { TAG, readRpmHead } from '../../src/feeds/rpm-header.js';
import { verifyRpmPackage } from '../../src/feeds/rpm-signature.js';
import { FixtureRpmRepo, resignedBy, rpmToolsMissing } from '../helpers/rpm-repo.js';
import { tempDir } from '../helpers/env.js';

const skip = rpmToolsMissing();

describe('an .rpm is stored only when its header signature is by the feed\'s keyring and its payload is the one signed', { skip }, () => {
  it('reads rpmbuild\'s headers; passes a signed package; refuses unsigned, re-signed by another key, altered header, swapped payload, not an rpm', async () => {
    const vendor = new FixtureRpmRepo();
    const other = new FixtureRpmRepo();
    const keys = await loadKeyring(vendor.keyringPath);
    const signed = vendor.addPackage({ name: 'hello', version: '1:2.0-3.el9' });
    const older = vendor.addPackage({ name: 'hello', version: '1:1.0-1.el9' });
    const unsigned = vendor.addPackage({ name: 'bare', version: '1.0-1', unsigned: true });

    const head = await readRpmHead(signed.file);
    assert.equal(head.header.string(TAG.NAME), 'hello');
    assert.equal(head.header.number(TAG.EPOCH), 1);
    assert.equal(head.header.string(TAG.VERSION), '2.0');
    assert.equal(head.header.string(TAG.RELEASE), '3.el9');
    assert.equal(head.header.string(TAG.ARCH), 'x86_64');
    assert.deepEqual(head.header.strings(TAG.BASENAMES)?.sort(), ['README', 'hello', 'hello', 'hello.conf']);
    assert.ok(head.headerEnd > head.headerStart && head.headerEnd < signed.bytes.length);

    const ok = await verifyRpmPackage(signed.file, keys, Date.now(), 'hello');
    assert.match(ok.signer, /^[0-9A-F]{40}$/);

    const refused = async (file: string, pattern: RegExp) => {
      await assert.rejects(verifyRpmPackage(file, keys, Date.now(), 'the package'), (err) => isSluiceError(err, 'FEED_PACKAGE_SIGNATURE') && pattern.test((err as Error).message));
    };
    await refused(unsigned.file, /no header signature/);
    const dir = tempDir('sluice-rpmsig-');
    const write = (name: string, bytes: Buffer) => {
      const file = path.join(dir, name);
      writeFileSync(file, bytes);
      return file;
    };
    await refused(write('resigned.rpm', resignedBy(signed, other)), /not signed by a key of the feed's keyring/);
    // One byte of the signed header changed (the summary's first letter).
    const altered = Buffer.from(signed.bytes);
    const at = altered.indexOf(Buffer.from('hello, a package'), head.headerStart);
    altered[at] = 'j'.charCodeAt(0);
    await refused(write('altered.rpm', altered), /not signed by a key/);
    // The signed header of 2.0 with the payload of 1.0.
    const olderHead = await readRpmHead(older.file);
    await refused(write('swapped.rpm', Buffer.concat([signed.bytes.subarray(0, head.headerEnd), older.bytes.subarray(olderHead.headerEnd)])), /payload does not match/);
    await refused(write('text.rpm', Buffer.from('<html>not found</html>')), /not an rpm package/);
    await refused(write('cut.rpm', signed.bytes.subarray(0, head.headerStart + 40)), /not an rpm package Sluice can read/);
    assert.ok(other.keyringPath);
  });
});

describe('an .rpm of a made-up huge header (a mirror needs no key to list one)', () => {
  it('is refused, and checks of many at once hold one header in memory, not one per transfer', async () => {
    const magic = Buffer.from([0x8e, 0xad, 0xe8, 0x01]);
    const size = 60 * 1024 * 1024;
    /** A header of `entries` and `dataSize` bytes of data, of which `data` is given (the rest is written after it). */
    const header = (entries: [number, number, number, number][], data: Buffer, dataSize = data.length) => {
      const intro = Buffer.alloc(16 + 16 * entries.length);
      magic.copy(intro);
      intro.writeUInt32BE(entries.length, 8);
      intro.writeUInt32BE(dataSize, 12);
      entries.forEach(([tag, type, offset, count], i) => {
        intro.writeInt32BE(tag, 16 + i * 16);
        intro.writeUInt32BE(type, 20 + i * 16);
        intro.writeInt32BE(offset, 24 + i * 16);
        intro.writeUInt32BE(count, 28 + i * 16);
      });
      return Buffer.concat([intro, data]);
    };
    const lead = Buffer.alloc(96);
    lead.writeUInt32BE(0xedabeedb, 0);
    lead[4] = 3;
    // A signature tag that is no signature, then a main header of 60 MiB of nothing.
    const signature = header([[268, 7, 0, 8]], Buffer.alloc(8, 1));
    const file = path.join(tempDir('sluice-rpmhuge-'), 'huge.rpm');
    // Written a MiB at a time: no large buffer of the test's own is left for the measure below.
    const fd = openSync(file, 'w');
    writeSync(fd, Buffer.concat([lead, signature, Buffer.alloc((8 - (signature.length % 8)) % 8), header([[1000, 7, 0, size]], Buffer.alloc(0), size)]));
    const mib = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < size / mib.length; i++) writeSync(fd, mib);
    writeSync(fd, Buffer.alloc(1024));
    closeSync(fd);

    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 2);
    try {
      const checks = Array.from({ length: 4 }, () => verifyRpmPackage(file, [], Date.now(), 'huge.rpm'));
      for (const check of checks) await assert.rejects(check, (err) => isSluiceError(err, 'FEED_PACKAGE_SIGNATURE') && /not signed by a key of the feed's keyring/.test((err as Error).message));
    } finally {
      clearInterval(sample);
    }
    const grown = peak - before;
    // One check at a time, one copy of its header (and the stream's chunks until collected): about 2.5 times it; four at once held 7 times it.
    assert.ok(grown < 4 * size, `buffers grew by ${Math.round(grown / 2 ** 20)} MiB checking four packages of a ${size / 2 ** 20} MiB header`);
  });
});

