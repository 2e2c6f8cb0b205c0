import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BatchedWriter } from '../../src/store/batched-writer.js';
import { tempDir } from '../helpers/env.js';

describe('BatchedWriter', () => {
  it('writes chunks of any size across batch boundaries, in order, from any start offset', async () => {
    const file = path.join(tempDir(), 'out');
    const data = randomBytes(3 * 256 * 1024 + 4321);
    const fh = await open(file, 'w');
    await fh.write(Buffer.from('head'), 0, 4, 0);
    let landed = 0;
    const out = new BatchedWriter(fh, 4, 256 * 1024, 50, (n) => (landed += n));
    // Odd sizes, some larger than a batch.
    for (let i = 0, size = 1; i < data.length; size = (size * 7 + 13) % 400_000) {
      await out.push(data.subarray(i, i + size));
      i += size;
    }
    await out.flush();
    assert.equal(out.written, 4 + data.length);
    assert.equal(landed, data.length);
    await out.release();
    await fh.close();
    assert.ok(readFileSync(file).equals(Buffer.concat([Buffer.from('head'), data])));
  });

  it('keeps no reference to a pushed chunk: the caller may reuse it at once', async () => {
    // A socket's reader hands out fresh buffers; a writer holding them until its batch is
    // written keeps them alive past the young generation (batched-writer.ts says why).
    const file = path.join(tempDir(), 'reuse');
    const fh = await open(file, 'w');
    const out = new BatchedWriter(fh, 0, 1024 * 1024, 10_000);
    const chunk = Buffer.alloc(64 * 1024);
    const expected: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      chunk.fill(i);
      expected.push(Buffer.from(chunk));
      await out.push(chunk);
    }
    chunk.fill(0xff);
    await out.flush();
    await out.release();
    await fh.close();
    assert.ok(readFileSync(file).equals(Buffer.concat(expected)), 'the file holds the bytes as they were when pushed');
  });
});

describe('BatchedWriter: push and writeNow', () => {
  it('writes pushes in order with writev, and writeNow after what was pushed; written counts what landed', async () => {
    const file = path.join(tempDir(), 'out');
    const fh = await open(file, 'w');
    const landed: number[] = [];
    const w = new BatchedWriter(fh, 0, 8, 50, (n) => landed.push(n));
    await w.push(Buffer.from('abc'));
    await w.push(Buffer.from('defgh'));
    await w.push(Buffer.from('ij'));
    await w.writeNow(Buffer.from('XklmY'), 1, 4);
    assert.equal(w.accepted, 13);
    await w.flush();
    await fh.close();
    assert.equal(await readFile(file, 'utf8'), 'abcdefghijklm');
    assert.equal(w.written, 13);
    assert.equal(landed.reduce((a, b) => a + b, 0), 13);
  });
});
