import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
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
