import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FrameDecoder, frameHeader, type BatchFrame } from '../../src/protocol/blob-batch.js';
import { sha256 } from '../helpers/hash.js';


/** A batch response holding `blobs` (undefined: a blob the sender does not hold). */
function encode(blobs: readonly (Buffer | undefined)[]): { wire: Buffer; ids: string[] } {
  const ids = blobs.map((b, i) => (b ? sha256(b) : String(i).padStart(64, 'f')));
  const wire = Buffer.concat(blobs.flatMap((b, i) => (b ? [frameHeader(ids[i]!, b.length), b] : [frameHeader(ids[i]!, 'missing')])));
  return { wire, ids };
}

function decode(chunks: readonly Buffer[], maxSize: number): BatchFrame[] {
  const d = new FrameDecoder(maxSize);
  const out = chunks.flatMap((c) => d.push(c));
  d.end();
  return out;
}

describe('blob batch frames', () => {
  const blobs = [randomBytes(300), undefined, randomBytes(1), randomBytes(120)];
  const { wire, ids } = encode(blobs);
  const check = (frames: BatchFrame[], how: string) => {
    assert.deepEqual(frames.map((f) => f.sha256), ids, how);
    frames.forEach((f, i) => assert.ok(blobs[i] ? f.bytes?.equals(blobs[i]!) : f.bytes === undefined, `${how}: frame ${i}`));
  };

  it('decodes the same frames however the stream is cut: at every byte into two chunks, and one byte at a time', () => {
    for (let cut = 0; cut <= wire.length; cut++) check(decode([wire.subarray(0, cut), wire.subarray(cut)], 1024), `cut at ${cut}`);
    check(decode([...wire].map((b) => Buffer.from([b])), 1024), 'one byte per chunk');
  });

  it('hands over a frame lying inside one chunk as a view of that chunk, not a copy', () => {
    const frames = decode([wire], 1024);
    for (const f of frames) if (f.bytes && f.bytes.length) assert.equal(f.bytes.buffer, wire.buffer, `frame ${f.sha256.slice(0, 8)} shares the chunk's memory`);
  });

  it('refuses a frame over the size asked for, a header without its end, a bad header and a stream cut inside a frame', () => {
    assert.throws(() => decode([wire], 299), /a frame of 300 bytes exceeds 299/);
    assert.throws(() => decode([Buffer.alloc(200, 0x61)], 1024), /header too long/);
    assert.throws(() => decode([Buffer.from(`${'x'.repeat(64)} 5\n`)], 1024), /bad frame header/);
    assert.throws(() => decode([wire.subarray(0, wire.length - 1)], 1024), /ended inside a frame/);
    assert.throws(() => decode([wire.subarray(0, 10)], 1024), /ended inside a frame/);
  });
});
