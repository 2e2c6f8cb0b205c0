import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BACKLOG_LIMIT_BYTES, LiveEvents, TICK_MS } from '../../src/console/live-events.js';
import type { ConsoleDeps } from '../../src/console/view-context.js';
import { nodeStatus } from '../helpers/status-fixture.js';

/** A one-node status whose catalog position moves on every look, with a 30 KB error text: every tick is a new, large frame. */
function movingStatus(): { deps: Pick<ConsoleDeps, 'status' | 'catalog' | 'rollup'>; looks: () => number } {
  let seq = 0;
  const status = () => nodeStatus({ catalog: { seq: ++seq, headExpires: null }, lastError: { code: 'STORE_IO', message: 'x'.repeat(30_000), at: new Date().toISOString() } });
  const deps = { status, catalog: { seq: 0 }, rollup: { subtree: () => ({}) } } as unknown as Pick<ConsoleDeps, 'status' | 'catalog' | 'rollup'>;
  return { deps, looks: () => seq };
}

describe('live console events', () => {
  it('a page that stops reading is skipped past a bounded backlog while the others keep getting every change', async (t) => {
    // Controlled time: each tick of the events' timer is a step here, not a second of waiting.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { deps } = movingStatus();
    const live = new LiveEvents(deps);
    const stalled = live.subscribe(new Set(['tree'] as const), new Map());
    const reader = live.subscribe(new Set(['tree'] as const), new Map());
    let frames = 0;
    reader.on('data', (d: Buffer) => (frames += (d.toString().match(/^event: tree$/gm) ?? []).length));
    try {
      for (let ticks = 0; ticks < 20 && frames < 6; ticks++) {
        t.mock.timers.tick(TICK_MS);
        // The streams hand their chunks to 'data' listeners on a later turn of the event loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(frames >= 6, `six frames at the reading page (got ${frames})`);
      // Six frames of ~30 KB were produced; the stalled page holds at most the limit plus one.
      assert.ok(stalled.writableLength <= BACKLOG_LIMIT_BYTES + 32 * 1024, `stalled backlog ${stalled.writableLength} bytes`);
    } finally {
      live.close();
    }
  });
});
