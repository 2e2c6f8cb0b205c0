import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackgroundRate, TARGET_MS } from '../../src/schedule/background-rate.js';

const MB = 1e6;

function controller(cap: number) {
  let t = 0;
  const applied: number[] = [];
  const bg = new BackgroundRate(cap, async () => undefined, (r) => applied.push(r), 200, () => t);
  return { bg, applied, tick: (delayMs: number) => ((t += 200), bg.sample(delayMs)) };
}

describe('background rate (delay-based, after LEDBAT)', () => {
  it('grows towards the cap while the delay stays at its base, and yields at once when it rises', () => {
    const c = controller(20 * MB);
    for (let i = 0; i < 100; i++) c.tick(20);
    assert.equal(c.bg.state.rateBytesPerSec, 20 * MB, 'an idle path: the whole cap');
    assert.match(c.bg.state.reason, /max/);
    // Someone else's download fills the queue: +200 ms. Within seven samples (1.4 s; the
    // first two are filtered: the current delay is the median of five) it falls by a fifth
    // of the max a sample.
    for (let i = 0; i < 7; i++) c.tick(220);
    assert.ok(c.bg.state.rateBytesPerSec < 20 * MB * 0.2, `yielded to ${c.bg.state.rateBytesPerSec}`);
    assert.match(c.bg.state.reason, /yielding/);
    assert.deepEqual([c.bg.state.baseDelayMs, c.bg.state.delayMs], [20, 220]);
    // Never below the floor, however long the queue stays.
    for (let i = 0; i < 50; i++) c.tick(400);
    assert.ok(c.bg.state.rateBytesPerSec >= 200_000, 'a floor keeps transfers alive');
    // The other download ends: the delay returns to its base and the rate climbs back.
    const low = c.bg.state.rateBytesPerSec;
    for (let i = 0; i < 20; i++) c.tick(21);
    assert.ok(c.bg.state.rateBytesPerSec > low * 4, 'climbs back within seconds');
  });

  it('holds near the target: a queue just under it is tolerated, just over it is not', () => {
    const c = controller(100 * MB);
    for (let i = 0; i < 10; i++) c.tick(10);
    const before = c.bg.state.rateBytesPerSec;
    c.tick(10 + TARGET_MS * 0.9);
    c.tick(10 + TARGET_MS * 0.9);
    c.tick(10 + TARGET_MS * 0.9);
    assert.ok(c.bg.state.rateBytesPerSec >= before, 'under the target: not yielding');
    const at = c.bg.state.rateBytesPerSec;
    for (let i = 0; i < 3; i++) c.tick(10 + TARGET_MS * 1.5);
    assert.ok(c.bg.state.rateBytesPerSec < at, 'over the target: yielding');
  });

  it('one late answer is not congestion: the current delay is the median of the last five', () => {
    const c = controller(10 * MB);
    for (let i = 0; i < 10; i++) c.tick(15);
    const before = c.bg.state.rateBytesPerSec;
    c.tick(500);
    assert.ok(c.bg.state.rateBytesPerSec >= before);
  });
});
