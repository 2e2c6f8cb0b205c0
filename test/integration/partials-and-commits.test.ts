import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { verifyStore } from '../../src/store/verify-store.js';
import { freshStore } from '../helpers/store.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function* once(buf: Buffer) {
  yield buf;
}


describe('group commit: per-blob outcomes', () => {
  it('one blob whose rename fails fails its own commit only; the rest of the round is visible, nothing orphaned', async () => {
    const { store } = await freshStore();
    // Above PACKED_BLOB_MAX: blobs with files of their own (small ones go into packs).
    const blobs = [randomBytes(40_000), randomBytes(41_000), randomBytes(42_000)];
    const staged = await Promise.all(blobs.map((b) => store.stage(once(b))));
    unlinkSync(staged[1]!.tmpPath); // its rename will fail with ENOENT
    const outcomes = await Promise.allSettled(staged.map((s) => store.commit([s])));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal((outcomes[1] as PromiseRejectedResult).reason.code, 'STORE_IO');
    assert.ok(store.has(sha(blobs[0]!)) && store.has(sha(blobs[2]!)));
    assert.ok(!store.has(sha(blobs[1]!)));
    const files = readdirSync(store.blobDir, { recursive: true }).map(String).filter((f) => /[0-9a-f]{64}$/.test(f));
    assert.equal(files.length, 2, 'only the committed blobs are on disk');
  });
});

describe('downloads of the file-system store', () => {
  it('a retry reuses the hash of what was written (no re-read); a restart re-hashes, and stops at once on abort', async () => {
    const { store, db, dir } = await freshStore();
    const data = randomBytes(8 * 1024 * 1024);
    const id = sha(data);
    const half = data.length / 2;
    const a = await store.openDownload(id, data.length);
    const fh = await a.openForWrite(0);
    await fh.write(data, 0, half, 0);
    await fh.sync();
    await fh.close();
    await a.checkpoint(half);
    const hash = createHash('sha256').update(data.subarray(0, half));
    a.remember(half, hash);
    a.release();
    // Same length, other bytes: only a re-read would notice.
    writeFileSync(path.join(dir, 'partial', `${id}.part`), Buffer.alloc(half, 1));
    const b = await store.openDownload(id, data.length);
    const memo = await b.resumePoint();
    assert.equal(memo.offset, half);
    assert.equal(memo.hash.digest('hex'), createHash('sha256').update(data.subarray(0, half)).digest('hex'), 'the remembered hash was used');
    // A new process has no memo: it re-hashes, and an abort stops that before any read.
    const { store: restarted } = await FsBlobStore.open(db, dir);
    const c = await restarted.openDownload(id, data.length);
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(c.resumePoint(stop.signal), (err: Error) => err.name === 'AbortError');
    const rehashed = await c.resumePoint();
    assert.equal(rehashed.hash.digest('hex'), createHash('sha256').update(Buffer.alloc(half, 1)).digest('hex'));
    b.release();
    c.release();
  });
});

describe('verify condemns only on evidence', () => {
  it('a blob that cannot be read is kept and reported; a missing one is forgotten; a corrupt one is quarantined', async () => {
    const { store } = await freshStore();
    const blobs = [randomBytes(45_000), randomBytes(46_000), randomBytes(47_000), randomBytes(48_000)];
    for (const b of blobs) await store.commit([await store.stage(once(b))]);
    const [unreadable, missing, corrupt, healthy] = blobs.map(sha) as [string, string, string, string];
    // A read error that says nothing about the bytes (EISDIR stands in for EIO or EMFILE).
    rmSync(store.pathOf(unreadable));
    mkdirSync(store.pathOf(unreadable));
    unlinkSync(store.pathOf(missing));
    const bad = Buffer.from(blobs[2]!);
    bad[10] = bad[10]! ^ 0xff;
    writeFileSync(store.pathOf(corrupt), bad);
    const report = await verifyStore(store);
    assert.deepEqual(report.quarantined, [corrupt]);
    assert.deepEqual(report.missing, [missing]);
    assert.deepEqual(report.unreadable.map((u) => u.sha256), [unreadable]);
    assert.equal(report.unreadable[0]!.error, 'EISDIR');
    assert.ok(store.has(unreadable), 'kept: a transient error is no evidence');
    assert.ok(!store.has(missing) && !store.has(corrupt) && store.has(healthy));
  });
});
