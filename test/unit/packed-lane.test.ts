import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PackedLane } from '../../src/download/packed-lane.js';

/** A lane whose batches end when the test says so. */
function lane(maxBatches: number, batchSize: number) {
  const started: { batch: number[]; done: () => void }[] = [];
  const l = new PackedLane<number>({
    maxBatches,
    batchSize,
    run: (batch) => new Promise<void>((done) => started.push({ batch, done })),
  });
  return { l, started };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('PackedLane', () => {
  it('groups what is added in one turn into full batches, most urgent first, at most maxBatches at once', async () => {
    const { l, started } = lane(2, 4);
    // Priorities given out of order, two equal ones kept in the order added.
    for (const [item, priority] of [[1, 10], [2, 50], [3, 30], [4, 30], [5, 90], [6, 20], [7, 5], [8, 70], [9, 1], [10, 60]] as const) l.add(item, priority);
    await turn();
    assert.deepEqual(started.map((s) => s.batch), [[5, 8, 10, 2], [3, 4, 6, 1]], 'two full batches, in priority order');
    assert.equal(l.size, 2);
    // A more urgent item arriving meanwhile goes ahead of those still waiting.
    l.add(11, 40);
    started[0]!.done();
    await turn();
    assert.deepEqual(started[2]!.batch, [11, 7, 9]);
    let idle = false;
    void l.onIdle().then(() => (idle = true));
    started[1]!.done();
    await turn();
    assert.equal(idle, false, 'a batch still runs');
    started[2]!.done();
    await turn();
    assert.equal(idle, true);
  });

  it('clear drops what waits; running batches end on their own', async () => {
    const { l, started } = lane(1, 2);
    for (let i = 0; i < 5; i++) l.add(i, 0);
    await turn();
    assert.equal(started.length, 1);
    l.clear();
    assert.equal(l.size, 0);
    const idle = l.onIdle();
    started[0]!.done();
    await idle;
    assert.equal(started.length, 1, 'nothing started after clear');
  });

  it('a batch that fails does not stop the lane', async () => {
    let runs = 0;
    const l = new PackedLane<number>({ maxBatches: 1, batchSize: 1, run: async () => {
        if (runs++ === 0) throw new Error('boom');
      },
    });
    l.add(1, 0);
    l.add(2, 0);
    await l.onIdle();
    assert.equal(runs, 2);
  });
});
