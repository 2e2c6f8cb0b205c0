import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { BlobStore, Download } from '../../src/store/blob-store.js';

/** A store under test, and how to reopen the same data (a restart) and to close it. */
export interface StoreUnderTest {
  readonly store: BlobStore;
  reopen(): Promise<StoreUnderTest>;
  close(): Promise<void>;
  /** Replaces the bytes a download holds from `from` on, as a power loss tears an unsynced tail. */
  tearTail(sha256: string, from: number): Promise<void>;
  /** Leaves what a crash between a download's commit renaming its bytes and recording them leaves. */
  renameWithoutRecord(sha256: string): Promise<void>;
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
/** Writes bytes [from, to) of `data` into the download at the same positions. */
async function put(dl: Download, data: Buffer, from: number, to: number, sync = true): Promise<void> {
  const sink = await dl.openForWrite(from);
  await sink.write(data, from, to - from, from);
  if (sync) await sink.sync();
  await sink.close();
}
/** Bytes [start, end) of what a download's reader gives. */
async function readFrom(dl: Download, start: number, end: number): Promise<Buffer> {
  const reader = await dl.openForRead();
  try {
    const buf = Buffer.alloc(end - start);
    const { bytesRead } = await reader.read(buf, 0, buf.length, start);
    return buf.subarray(0, bytesRead);
  } finally {
    await reader.close();
  }
}
/** Copies what it is given: copyTo reuses its buffers once a write completes. */
function sink(): { dest: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  return { dest: new Writable({ write: (c: Buffer, _e, cb) => (parts.push(Buffer.from(c)), cb()) }), bytes: () => Buffer.concat(parts) };
}

/**
 * What every BlobStore implementation promises (store/blob-store.ts), run against each one:
 * visibility only after commit, byte-exact reads and ranges, small blobs in memory and large
 * ones through copies, removal, quarantine and what survives a restart; and a download's
 * life: resume after a restart, a torn tail, one owner per blob, a commit that drops the
 * partial, an abandon, a crash between the commit's rename and its record.
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

    it('a download resumes after a restart from what it held; its commit makes the blob visible and drops the partial', async () => {
      let s = await open();
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const id = sha(data);
      const half = 1024 * 1024;
      const first = await s.store.openDownload(id, data.length);
      assert.equal((await first.resumePoint()).offset, 0);
      await put(first, data, 0, half);
      await first.checkpoint(half);
      first.release();
      s = await s.reopen();
      try {
        assert.equal(s.store.partialBytes(id), half, 'what the download held, for progress before it resumes');
        assert.deepEqual((await s.store.idleDownloads()).map((d) => [d.sha256, d.bytes]), [[id, half]]);
        const again = await s.store.openDownload(id, data.length);
        const resume = await again.resumePoint();
        assert.equal(resume.offset, half);
        assert.equal(resume.hash.copy().digest('hex'), sha(data.subarray(0, half)), 'the hash of the bytes held, computed again after the restart');
        await put(again, data, half, data.length);
        assert.equal(s.store.has(id), false, 'invisible until the commit');
        await again.commit();
        assert.ok((await readAll(s.store.read(id))).equals(data));
        assert.deepEqual(await s.store.idleDownloads(), [], 'the commit dropped the partial');
        s = await s.reopen();
        assert.ok(s.store.has(id));
        assert.deepEqual(await s.store.idleDownloads(), []);
        assert.equal(s.store.partialBytes(id), 0);
      } finally {
        await s.close();
      }
    });

    it('a torn tail: the resume trusts what is held, and a rollback goes back to the durable checkpoint', async () => {
      let s = await open();
      const data = randomBytes(2 * 1024 * 1024);
      const id = sha(data);
      const durable = 512 * 1024;
      const dl = await s.store.openDownload(id, data.length);
      await put(dl, data, 0, durable);
      await dl.checkpoint(durable);
      await put(dl, data, durable, data.length, false);
      dl.release();
      await s.tearTail(id, durable);
      s = await s.reopen();
      try {
        const again = await s.store.openDownload(id, data.length);
        const resume = await again.resumePoint();
        assert.deepEqual([resume.offset, resume.durable], [data.length, durable]);
        assert.notEqual(resume.hash.digest('hex'), id, 'the torn bytes do not hash to the blob');
        await again.rollback(resume.durable);
        const back = await again.resumePoint();
        assert.equal(back.offset, durable);
        assert.equal(back.hash.digest('hex'), sha(data.subarray(0, durable)));
        await put(again, data, durable, data.length);
        await again.commit();
        assert.ok((await readAll(s.store.read(id))).equals(data));
      } finally {
        await s.close();
      }
    });

    it('one owner per blob: a second opening waits until the first has committed and then finds it stored; an abort ends the wait', async () => {
      const s = await open();
      try {
        const data = randomBytes(100_000);
        const id = sha(data);
        const first = await s.store.openDownload(id, data.length);
        await put(first, data, 0, data.length);
        let secondGotIt = false;
        const second = s.store.openDownload(id, data.length).then((dl) => {
          secondGotIt = true;
          return dl;
        });
        const stop = new AbortController();
        const third = s.store.openDownload(id, data.length, stop.signal);
        await new Promise((r) => setImmediate(r));
        assert.equal(secondGotIt, false, 'held while the first owner writes and commits');
        stop.abort();
        await assert.rejects(third, (err: Error) => err.name === 'AbortError');
        assert.equal(await s.store.dropDownload(id), false, 'a held download is not dropped');
        await first.commit();
        const dl = await second;
        assert.ok(s.store.has(id), 'the second owner sees the committed blob');
        dl.release();
      } finally {
        await s.close();
      }
    });

    it('abandon drops what a download held; an idle download can be dropped', async () => {
      let s = await open();
      const a = randomBytes(300_000);
      const b = randomBytes(200_000);
      const dlA = await s.store.openDownload(sha(a), a.length);
      await put(dlA, a, 0, 100_000);
      await dlA.checkpoint(100_000);
      await dlA.abandon();
      const dlB = await s.store.openDownload(sha(b), b.length);
      await put(dlB, b, 0, 50_000);
      await dlB.checkpoint(50_000);
      dlB.release();
      assert.deepEqual((await s.store.idleDownloads()).map((d) => d.sha256), [sha(b)]);
      assert.equal(await s.store.dropDownload(sha(b)), true);
      s = await s.reopen();
      try {
        assert.deepEqual(await s.store.idleDownloads(), []);
        for (const [blob, id] of [[a, sha(a)], [b, sha(b)]] as const) {
          const dl = await s.store.openDownload(id, blob.length);
          assert.equal((await dl.resumePoint()).offset, 0, 'nothing left to resume from');
          dl.release();
        }
      } finally {
        await s.close();
      }
    });

    it('a crash between the commit\'s rename and its record leaves no blob and nothing to resume from', async () => {
      let s = await open();
      const data = randomBytes(1024 * 1024 + 3);
      const id = sha(data);
      const dl = await s.store.openDownload(id, data.length);
      await put(dl, data, 0, data.length);
      await dl.checkpoint(data.length);
      dl.release();
      await s.renameWithoutRecord(id);
      s = await s.reopen();
      try {
        assert.equal(s.store.has(id), false, 'never recorded: not a blob');
        assert.deepEqual(await s.store.idleDownloads(), []);
        const again = await s.store.openDownload(id, data.length);
        assert.equal((await again.resumePoint()).offset, 0);
        await put(again, data, 0, data.length);
        await again.commit();
        assert.ok((await readAll(s.store.read(id))).equals(data));
      } finally {
        await s.close();
      }
    });

    it('a relay reads a download while it arrives, and still finds its bytes once the commit moved them', async () => {
      const s = await open();
      try {
        const data = randomBytes(2 * 1024 * 1024);
        const id = sha(data);
        const dl = await s.store.openDownload(id, data.length);
        await put(dl, data, 0, 1000);
        assert.ok((await readFrom(dl, 0, 1000)).equals(data.subarray(0, 1000)));
        const early = await dl.openForRead();
        await put(dl, data, 1000, data.length);
        const commit = dl.commit();
        await commit;
        const buf = Buffer.alloc(4096);
        await early.read(buf, 0, buf.length, data.length - buf.length);
        await early.close();
        assert.ok(buf.equals(data.subarray(data.length - buf.length)), 'a reader opened before the commit reads on');
        assert.ok((await readFrom(dl, 1000, 5000)).equals(data.subarray(1000, 5000)), 'opened after the commit: found where the commit put it');
      } finally {
        await s.close();
      }
    });
  });
}
