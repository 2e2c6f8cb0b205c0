import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { BlobStore } from '../../src/store/blob-store.js';

/** A store under test, and how to reopen the same data (a restart) and to close it. */
export interface StoreUnderTest {
  readonly store: BlobStore;
  reopen(): Promise<StoreUnderTest>;
  close(): Promise<void>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function* chunks(b: Buffer, size = 7919) {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}
/** Copies what it is given: copyTo reuses its buffers once a write completes. */
function sink(): { dest: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  return { dest: new Writable({ write: (c: Buffer, _e, cb) => (parts.push(Buffer.from(c)), cb()) }), bytes: () => Buffer.concat(parts) };
}

/**
 * What every BlobStore implementation promises (store/blob-store.ts), run against each one:
 * visibility only after commit, byte-exact reads and ranges, small blobs in memory and large
 * ones through copies, removal, quarantine and what survives a restart.
 */
export function blobStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`BlobStore contract: ${name}`, () => {
    it('a staged blob is invisible until its commit, then readable whole and by range', async () => {
      const s = await open();
      try {
        const large = randomBytes(3 * 1024 * 1024 + 17);
        const staged = await s.store.stage(chunks(large));
        assert.equal(staged.sha256, sha(large));
        assert.equal(s.store.has(staged.sha256), false);
        await s.store.commit([staged]);
        assert.equal(s.store.sizeOf(staged.sha256), large.length);
        assert.ok((await readAll(s.store.read(staged.sha256))).equals(large));
        assert.ok((await readAll(s.store.read(staged.sha256, { start: 100, end: 2_000_000 }))).equals(large.subarray(100, 2_000_001)));
        const out = sink();
        await s.store.copyTo(staged.sha256, out.dest, { start: 5, end: large.length - 1 });
        assert.ok(out.bytes().equals(large.subarray(5)));
        assert.equal(await s.store.readSmall(staged.sha256), undefined, 'a large blob is never handed out whole');
      } finally {
        await s.close();
      }
    });

    it('small blobs: staged in memory or from a stream, read whole, read in order with unknown ids marked', async () => {
      const s = await open();
      try {
        const a = randomBytes(16 * 1024);
        const b = randomBytes(9000);
        await s.store.commit([s.store.stageBuffer(sha(a), a), await s.store.stage(chunks(b))]);
        assert.ok((await s.store.readSmall(sha(a)))!.equals(a));
        const missing = '0'.repeat(64);
        const got = [];
        for await (const [id, bytes] of s.store.readSmallInOrder([sha(a), missing, sha(b)], 32 * 1024)) got.push([id, bytes?.length]);
        assert.deepEqual(got, [[sha(a), a.length], [missing, undefined], [sha(b), b.length]]);
        assert.deepEqual(await s.store.digest(sha(b)), { sha256: sha(b), size: b.length });
      } finally {
        await s.close();
      }
    });

    it('the same content committed twice is stored once; stats count it once', async () => {
      const s = await open();
      try {
        const data = randomBytes(100_000);
        await s.store.commit([await s.store.stage(chunks(data)), await s.store.stage(chunks(data))]);
        assert.deepEqual(s.store.stats(), { blobs: 1, bytes: data.length });
      } finally {
        await s.close();
      }
    });

    it('remove and quarantine forget a blob and count as removals; discard leaves nothing visible', async () => {
      const s = await open();
      try {
        const x = randomBytes(70_000);
        const y = randomBytes(20_000);
        await s.store.commit([await s.store.stage(chunks(x)), await s.store.stage(chunks(y))]);
        const before = s.store.removals;
        await s.store.remove(sha(x));
        await s.store.quarantine(sha(y));
        assert.equal(s.store.has(sha(x)), false);
        assert.equal(s.store.has(sha(y)), false);
        assert.equal(s.store.removals, before + 2);
        assert.throws(() => s.store.read(sha(x)), { code: 'BLOB_NOT_FOUND' });
        const z = await s.store.stage(chunks(randomBytes(5000)));
        await s.store.discard(z);
        assert.equal(s.store.has(z.sha256), false);
      } finally {
        await s.close();
      }
    });

    it('committed blobs survive a restart; removed ones stay gone', async () => {
      let s = await open();
      const kept = randomBytes(200_000);
      const small = randomBytes(4000);
      const gone = randomBytes(50_000);
      await s.store.commit([await s.store.stage(chunks(kept)), s.store.stageBuffer(sha(small), small), await s.store.stage(chunks(gone))]);
      await s.store.remove(sha(gone));
      s = await s.reopen();
      try {
        assert.ok((await readAll(s.store.read(sha(kept)))).equals(kept));
        assert.ok((await s.store.readSmall(sha(small)))!.equals(small));
        assert.equal(s.store.has(sha(gone)), false);
        assert.deepEqual([...s.store.list()].map(([id]) => id).sort(), [sha(kept), sha(small)].sort());
      } finally {
        await s.close();
      }
    });

    it('a staged upload over its limit is refused', async () => {
      const s = await open();
      try {
        await assert.rejects(s.store.stage(chunks(randomBytes(10_000)), { maxBytes: 5000 }), { code: 'PAYLOAD_TOO_LARGE' });
      } finally {
        await s.close();
      }
    });
  });
}
