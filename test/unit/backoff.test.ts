import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs } from '../../src/download/backoff.js';

describe('backoffMs', () => {
  it('stays within [floor/4, min(cap, floor·2^attempt)] and grows with the attempt', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(60_000, 500 * 2 ** Math.min(attempt, 30));
      assert.equal(backoffMs(attempt, 500, 60_000, () => 0.999999), Math.floor(0.999999 * ceiling));
      assert.equal(backoffMs(attempt, 500, 60_000, () => 0), 125, 'never below a quarter of the floor');
    }
    assert.equal(backoffMs(1000, 500, 60_000, () => 0.5), 30_000, 'huge attempts are capped, not Infinity');
  });
});
