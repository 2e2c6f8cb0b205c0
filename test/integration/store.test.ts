import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CatalogLog } from '../../src/catalog/catalog-log.js';
import { CatalogWriter } from '../../src/catalog/catalog-writer.js';
import { verifyHeadSignature } from '../../src/catalog/head.js';
import { SluiceError } from '../../src/errors.js';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { openMetaDb, sublevels } from '../../src/store/meta-db.js';
import { tempDir } from '../helpers/env.js';
import { freshStore } from '../helpers/store.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function* chunks(buf: Buffer, size = 65536) {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}


describe('content store on real files and LevelDB', () => {
  it('a staged blob is invisible until commit, then readable byte-exact under its sha256', async () => {
    const { db, store } = await freshStore();
    const data = randomBytes(3 * 1024 * 1024 + 11);
    const staged = await store.stage(chunks(data));
    assert.equal(staged.sha256, sha(data));
    assert.equal(staged.size, data.length);
    assert.ok(!store.has(staged.sha256), 'not visible before commit');
    await store.commit([staged]);
    assert.ok(store.has(staged.sha256));
    const back: Buffer[] = [];
    for await (const c of store.read(staged.sha256)) back.push(c as Buffer);
    assert.ok(Buffer.concat(back).equals(data));
    const slice: Buffer[] = [];
    for await (const c of store.read(staged.sha256, { start: 10, end: 19 })) slice.push(c as Buffer);
    assert.ok(Buffer.concat(slice).equals(data.subarray(10, 20)));
    assert.deepEqual(readdirSync(store.tmpDir), [], 'no staging file left');
    assert.deepEqual(store.stats(), { blobs: 1, bytes: data.length });
    await db.close();
  });

  it('an upload over the size limit is refused and leaves no staging file', async () => {
    const { db, store } = await freshStore();
    await assert.rejects(store.stage(chunks(randomBytes(1000)), { maxBytes: 999 }), (e: SluiceError) => e.code === 'PAYLOAD_TOO_LARGE');
    assert.deepEqual(readdirSync(store.tmpDir), []);
    await db.close();
  });

  it('committing the same content twice stores it once', async () => {
    const { db, store } = await freshStore();
    const data = randomBytes(1000);
    await store.commit([await store.stage(chunks(data)), await store.stage(chunks(data))]);
    await store.commit([await store.stage(chunks(data))]);
    assert.deepEqual(store.stats(), { blobs: 1, bytes: 1000 });
    assert.deepEqual(readdirSync(store.tmpDir), []);
    await db.close();
  });

  it('start-up reconciles disk and LevelDB: missing files dropped, strays adopted only when wanted and intact', async () => {
    const dir = tempDir();
    let db = await openMetaDb(dir);
    let { store } = await FsBlobStore.open(db, dir);
    // Above PACKED_BLOB_MAX: blobs with files of their own (small ones go into packs).
    const kept = randomBytes(40_000);
    const lost = randomBytes(40_200);
    await store.commit([await store.stage(chunks(kept)), await store.stage(chunks(lost))]);
    const place = (content: Buffer, name = sha(content)) => {
      mkdirSync(path.join(dir, 'blobs', name.slice(0, 2)), { recursive: true });
      writeFileSync(path.join(dir, 'blobs', name.slice(0, 2), name), content);
      return name;
    };
    const wanted = place(randomBytes(300));
    const unwanted = place(randomBytes(400));
    const corrupt = place(randomBytes(500), sha(randomBytes(8)));
    const lostPath = store.pathOf(sha(lost));
    await db.close();
    unlinkSync(lostPath);
    writeFileSync(path.join(dir, 'tmp', 'crashed.tmp'), 'partial upload');

    db = await openMetaDb(dir);
    const opened = await FsBlobStore.open(db, dir, (s) => s === wanted || s === corrupt);
    store = opened.store;
    assert.deepEqual(opened.dropped, [sha(lost)]);
    assert.deepEqual(opened.adopted, [wanted]);
    assert.deepEqual(opened.deleted.sort(), [unwanted, corrupt].sort());
    assert.ok(store.has(sha(kept)) && store.has(wanted) && !store.has(sha(lost)));
    assert.ok(!existsSync(store.pathOf(unwanted)) && !existsSync(store.pathOf(corrupt)));
    assert.deepEqual(readdirSync(store.tmpDir), [], 'staging files of a crashed write are removed');
    await db.close();
  });

  it('a second opener of the same data directory fails fast with DATA_DIR_LOCKED', async () => {
    const dir = tempDir();
    const db = await openMetaDb(dir);
    await assert.rejects(openMetaDb(dir), (e: SluiceError) => e.code === 'DATA_DIR_LOCKED' && /another Sluice process/.test(e.message));
    await db.close();
  });
});

describe('catalog log on LevelDB', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const at = new Date().toISOString();
  const file = { name: 'x', size: 1, sha256: 'd'.repeat(64) };

  it('appends commit with a signed head and survive a reopen, re-verified', async () => {
    const dir = tempDir();
    let db = await openMetaDb(dir);
    const log = await CatalogLog.open(db, publicKey);
    const { store } = await FsBlobStore.open(db, dir);
    const writer = new CatalogWriter(log, store, [privateKey], 3_600_000, 3_600_000);
    await writer.start();
    assert.equal(log.head!.seq, 0, 'an empty catalog still has a signed head');
    await writer.append(() => [{ type: 'publish', id: 'a@1', severity: 'low', files: [file], by: 't', at }]);
    await writer.append(() => [{ type: 'approve', id: 'a@1', ring: 'all', by: 't', at }]);
    writer.close();
    assert.equal(log.seq, 2);
    assert.ok(verifyHeadSignature(log.head!, publicKey));
    await db.close();
    db = await openMetaDb(dir);
    const again = await CatalogLog.open(db, publicKey);
    assert.equal(again.seq, 2);
    assert.equal(again.state.stateOf(again.state.get('a@1')!), 'approved');
    assert.deepEqual((await again.read(1, 10)).map((r) => r.seq), [2]);
    await db.close();
  });

  it('the primary re-signs the head before it expires, and only then', async () => {
    const dir = tempDir();
    const db = await openMetaDb(dir);
    const log = await CatalogLog.open(db, publicKey);
    const { store } = await FsBlobStore.open(db, dir);
    let now = Date.parse('2030-01-01T00:00:00Z');
    const writer = new CatalogWriter(log, store, [privateKey], 3_600_000, 3_600_000, () => now);
    await writer.start();
    writer.close();
    const first = log.head!;
    assert.equal(first.expires, '2030-01-01T01:00:00.000Z');
    now += 29 * 60_000;
    await writer.refreshHead();
    assert.equal(log.head, first, 'more than half the lifetime left: unchanged');
    now += 2 * 60_000;
    await writer.refreshHead();
    assert.equal(log.head!.expires, '2030-01-01T01:31:00.000Z');
    assert.ok(verifyHeadSignature(log.head!, publicKey));
    await db.close();
  });

  it('a tampered record or a foreign key is detected when the log is opened', async () => {
    const dir = tempDir();
    let db = await openMetaDb(dir);
    const log = await CatalogLog.open(db, publicKey);
    const { store } = await FsBlobStore.open(db, dir);
    const writer = new CatalogWriter(log, store, [privateKey], 3_600_000, 3_600_000);
    await writer.start();
    await writer.append(() => [{ type: 'publish', id: 'a@1', severity: 'low', files: [file], by: 't', at }]);
    writer.close();
    const { records } = sublevels(db);
    const rec = (await records.get('0000000000000001')) as Record<string, unknown>;
    await records.put('0000000000000001', { ...rec, severity: 'critical' });
    await db.close();
    db = await openMetaDb(dir);
    await assert.rejects(CatalogLog.open(db, publicKey), (e: SluiceError) => e.code === 'CATALOG_CHAIN_BROKEN');
    await sublevels(db).records.put('0000000000000001', rec);
    await assert.rejects(CatalogLog.open(db, generateKeyPairSync('ed25519').publicKey), (e: SluiceError) => e.code === 'CATALOG_SIGNATURE_INVALID');
    await db.close();
  });
});
