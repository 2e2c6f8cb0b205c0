import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planResponse } from '../../src/http/range-plan.js';
import { parseContentRange } from '../../src/download/fetch-blob.js';

const ETAG = `"${'a'.repeat(64)}"`;

describe('planResponse (RFC 9110)', () => {
  const plan = (h: Record<string, string>) => planResponse(h, ETAG, 1000);
  it('whole, ranges, suffixes, and what is ignored', () => {
    assert.deepEqual(plan({}), { status: 200, start: 0, end: 999 });
    assert.deepEqual(plan({ range: 'bytes=10-19' }), { status: 206, start: 10, end: 19 });
    assert.deepEqual(plan({ range: 'bytes=990-' }), { status: 206, start: 990, end: 999 });
    assert.deepEqual(plan({ range: 'bytes=-10' }), { status: 206, start: 990, end: 999 });
    assert.deepEqual(plan({ range: 'bytes=5-2' }), { status: 200, start: 0, end: 999 }, 'last < first is invalid: ignored');
    assert.deepEqual(plan({ range: 'items=0-1' }), { status: 200, start: 0, end: 999 }, 'another unit: ignored');
    assert.deepEqual(plan({ range: 'bytes=0-1,5-6' }), { status: 200, start: 0, end: 999 }, 'several ranges: whole');
    assert.deepEqual(plan({ range: 'bytes=1000-' }), { status: 416 });
    assert.deepEqual(plan({ range: 'bytes=0-9', 'if-range': '"other"' }), { status: 200, start: 0, end: 999 }, 'If-Range not matching: whole');
    assert.deepEqual(plan({ range: 'bytes=0-9', 'if-range': ETAG }), { status: 206, start: 0, end: 9 });
    assert.deepEqual(plan({ 'if-none-match': `W/${ETAG}` }), { status: 304 });
    assert.deepEqual(plan({ 'if-none-match': '*' }), { status: 304 });
  });
});

describe('parseContentRange', () => {
  it('reads bytes START-END/TOTAL and nothing else', () => {
    assert.deepEqual(parseContentRange('bytes 5-9/10'), { start: 5, end: 9, total: 10 });
    assert.deepEqual(parseContentRange(' bytes 0-0/1 '), { start: 0, end: 0, total: 1 });
    for (const bad of ['bytes */10', 'bytes 5-9/*', 'items 0-1/2', undefined, ['bytes 0-1/2']]) assert.equal(parseContentRange(bad as never), undefined);
  });
});
