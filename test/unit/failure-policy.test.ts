import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeFailure } from '../../src/download/failure-policy.js';
import { SluiceError, type ErrorCode } from '../../src/errors.js';

const tuning = { missingAfterMs: 600_000, backoffFloorMs: 500, backoffCapMs: 60_000 };
const e = (code: ErrorCode) => new SluiceError(code, code);

describe('the failure policy', () => {
  it('blames the peer for its own faults only: not for this node\'s disk, nor for a relay its upstream failed', () => {
    for (const code of ['UPSTREAM_UNREACHABLE', 'UPSTREAM_BAD_RESPONSE', 'TRANSFER_STALLED', 'HASH_MISMATCH'] as const) assert.equal(judgeFailure(e(code), 1, undefined, 0, tuning).blamePeer, true, code);
    for (const code of ['STORE_IO', 'STORE_FULL', 'RELAY_FAILED'] as const) {
      const v = judgeFailure(e(code), 1, undefined, 0, tuning);
      assert.equal(v.blamePeer, false, code);
      assert.equal(v.record, true, `${code} is shown`);
      assert.ok(v.retryInMs !== undefined && v.retryInMs <= 500, `${code} is retried with backoff`);
    }
  });

  it('a node\'s 404 is "not yet": asked again within 2 s, its fault only once it lasted missingAfterMs; a vendor\'s is backed off', () => {
    const first = judgeFailure(e('BLOB_NOT_FOUND'), 1, undefined, 1000, tuning);
    assert.deepEqual([first.blamePeer, first.notFoundSince], [false, 1000]);
    for (let attempt = 1; attempt < 30; attempt++) assert.ok(judgeFailure(e('BLOB_NOT_FOUND'), attempt, 1000, 2000, tuning).retryInMs! <= 2000);
    assert.equal(judgeFailure(e('BLOB_NOT_FOUND'), 9, 1000, 1000 + 600_000, tuning).blamePeer, true, 'withheld or lost up there');
    const vendor = judgeFailure(e('BLOB_NOT_FOUND'), 12, undefined, 0, tuning, false);
    assert.deepEqual([vendor.blamePeer, vendor.notFoundSince], [false, undefined]);
    assert.ok(vendor.retryInMs! >= 125, 'backed off like any failure');
  });

  it('BLOB_PENDING is no failure: nothing recorded, no blame, no 404 clock, asked again within 2 s', () => {
    const v = judgeFailure(e('BLOB_PENDING'), 5, 1000, 10_000_000, tuning);
    assert.deepEqual([v.blamePeer, v.record, v.notFoundSince], [false, false, undefined]);
    assert.ok(v.retryInMs! <= 2000);
  });

  it('an error retrying cannot help waits the longest, recorded', () => {
    const v = judgeFailure(e('FORBIDDEN'), 1, undefined, 0, tuning);
    assert.deepEqual([v.record, v.retryInMs], [true, tuning.backoffCapMs]);
  });
});
