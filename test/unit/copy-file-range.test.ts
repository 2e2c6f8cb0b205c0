import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BufferPool } from '../../src/store/buffer-pool.js';
import { copyFileRange, copyRange } from '../../src/store/copy-file-range.js';
import { open } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tempDir, waitFor } from '../helpers/env.js';
import { openDescriptors } from '../helpers/process.js';

/** A real TCP connection on loopback: the server side is the copy's destination. */
async function socketPair(): Promise<{ sending: Socket; receiving: Socket; close(): void }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const receiving = connect((server.address() as { port: number }).port, '127.0.0.1');
  const sending = await accepted;
  return { sending, receiving, close: () => (sending.destroy(), receiving.destroy(), server.close()) };
}


describe('copyFileRange', () => {
  const data = randomBytes(5 * 64 * 1024 + 123);
  const file = path.join(tempDir(), 'blob');
  writeFileSync(file, data);

  it('sends exactly the bytes asked for, over a real socket, and gives its two buffers back', async () => {
    for (const [start, end] of [[0, data.length - 1], [1, 2], [70_000, 200_001], [data.length - 1, data.length - 1]] as const) {
      const pair = await socketPair();
      const got: Buffer[] = [];
      pair.receiving.on('data', (b: Buffer) => got.push(b));
      const pool = new BufferPool(1 << 20);
      let counted = 0;
      await copyFileRange(file, start, end, pair.sending, { chunkBytes: 64 * 1024, pool, onChunk: (n) => (counted += n) });
      pair.sending.end();
      await new Promise((r) => pair.receiving.once('end', r));
      assert.ok(Buffer.concat(got).equals(data.subarray(start, end + 1)), `bytes ${start}-${end}`);
      assert.equal(counted, end - start + 1);
      assert.equal(pool.idleBytes, 2 * 64 * 1024, 'both buffers back in the pool');
      pair.close();
    }
  });

  it('takes its buffers from the pool rather than allocating', async () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.take(64 * 1024);
    const b = pool.take(64 * 1024);
    pool.give(a);
    pool.give(b);
    const pair = await socketPair();
    pair.receiving.resume();
    const seen = new Set<ArrayBufferLike>();
    const write = pair.sending.write.bind(pair.sending) as (chunk: Buffer, cb: (err?: Error | null) => void) => boolean;
    (pair.sending as unknown as { write: typeof write }).write = (chunk, cb) => (seen.add(chunk.buffer), write(chunk, cb));
    await copyFileRange(file, 0, data.length - 1, pair.sending, { chunkBytes: 64 * 1024, pool });
    pair.close();
    // Compared by identity (assert.ok): a failing deepEqual would print megabytes.
    assert.ok(seen.size === 2 && seen.has(a.buffer) && seen.has(b.buffer), `every chunk went out of one of the two pooled buffers (${seen.size} distinct seen)`);
  });

  it('a receiver that closes mid-way: rejects, closes the file, and keeps the buffers out of the pool', async () => {
    // More than loopback's socket buffers hold, so the copy must wait for the receiver.
    const bigFile = path.join(tempDir(), 'big');
    writeFileSync(bigFile, randomBytes(32 * 1024 * 1024));
    const pair = await socketPair();
    const pool = new BufferPool(1 << 20);
    const fds = openDescriptors();
    // Nobody reads: the copy waits on the kernel's buffers until the receiver goes away.
    const copy = copyFileRange(bigFile, 0, 32 * 1024 * 1024 - 1, pair.sending, { chunkBytes: 64 * 1024, pool });
    await waitFor('the socket buffers to fill', () => pair.sending.writableLength > 0);
    pair.sending.destroy();
    await assert.rejects(copy, (err: NodeJS.ErrnoException) => ['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED'].includes(err.code ?? ''));
    assert.equal(pool.idleBytes, 0, 'a buffer whose write may be pending is never handed out again');
    assert.ok(openDescriptors() <= fds, 'the file is closed');
    pair.close();
  });

  it('a file still growing: sends what is available, waits for more, and a receiver that goes away ends the wait', async () => {
    const pair = await socketPair();
    const got: Buffer[] = [];
    pair.receiving.on('data', (b: Buffer) => got.push(b));
    const fh = await open(file, 'r');
    let written = 1000;
    let more: (() => void) | undefined;
    // Bytes appear as a transfer writes them: 1,000 now, then nothing until released.
    const available = async (position: number) => {
      while (written - position <= 0) await new Promise<void>((r) => (more = r));
      return written - position;
    };
    const copy = copyRange(fh, 0, data.length - 1, pair.sending, { chunkBytes: 64 * 1024, pool: new BufferPool(1 << 20), available });
    await waitFor('the available bytes to arrive', () => Buffer.concat(got).length === 1000);
    written = 5000;
    more?.();
    await waitFor('the next bytes to arrive', () => Buffer.concat(got).length === 5000);
    assert.ok(Buffer.concat(got).equals(data.subarray(0, 5000)));
    // The transfer stalls; the receiver leaves: the copy must not wait for the transfer.
    pair.receiving.destroy();
    pair.sending.destroy();
    await assert.rejects(copy, { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    await fh.close();
    pair.close();
  });

  it('holds nothing for the chunks already sent, however many (heap flat along a long copy)', async () => {
    // 16,384 chunks of 1 KiB: anything kept per chunk until the copy ends (70 bytes or more)
    // shows as a megabyte between chunk 1,000 and chunk 16,000.
    const longFile = path.join(tempDir(), 'long');
    writeFileSync(longFile, randomBytes(16 * 1024 * 1024));
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const pair = await socketPair();
    pair.receiving.resume();
    let chunks = 0;
    let early = 0;
    let late = 0;
    const heapAfterGc = () => (gc(), process.memoryUsage().heapUsed);
    await copyFileRange(longFile, 0, 16 * 1024 * 1024 - 1, pair.sending, {
      chunkBytes: 1024,
      pool: new BufferPool(1 << 20),
      onChunk: () => {
        chunks++;
        if (chunks === 1000) early = heapAfterGc();
        if (chunks === 16_000) late = heapAfterGc();
      },
    });
    pair.close();
    const grownMiB = (late - early) / 1024 ** 2;
    assert.ok(grownMiB < 1, `the heap grew ${grownMiB.toFixed(2)} MiB over 15,000 chunks`);
  });

  it('a file shorter than the range: rejects with ERR_FILE_TRUNCATED', async () => {
    const pair = await socketPair();
    pair.receiving.resume();
    await assert.rejects(copyFileRange(file, 0, data.length + 10, pair.sending, { chunkBytes: 64 * 1024, pool: new BufferPool(1 << 20) }), { code: 'ERR_FILE_TRUNCATED' });
    pair.close();
  });
});
