import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BACKLOG_LIMIT_BYTES, LiveEvents } from '../../src/console/live-events.js';
import type { ConsoleDeps } from '../../src/console/view-context.js';
import type { NodeStatus } from '../../src/protocol/status.js';
import { waitFor } from '../helpers/env.js';

/** A one-node status whose catalog position moves on every look, with a 30 KB error text: every tick is a new, large frame. */
function movingStatus(): { deps: Pick<ConsoleDeps, 'status' | 'catalog' | 'rollup'>; looks: () => number } {
  let seq = 0;
  const status = (): NodeStatus => ({
    node: 'hq', primary: true, region: 'main', version: 'test', at: new Date().toISOString(), ready: true, upstream: null,
    catalog: { seq: ++seq, headExpires: null }, store: { blobs: 0, bytes: 0 }, pending: { blobs: 0, bytes: 0 }, transfers: [], rate: null,
    forecast: { doneAt: null, pendingPackages: 0, late: [] },
    lastError: { code: 'STORE_IO', message: 'x'.repeat(30_000), at: new Date().toISOString() },
    missing: [], lost: [], warnings: [], children: {},
  });
  const deps = { status, catalog: { seq: 0 }, rollup: { subtree: () => ({}) } } as unknown as Pick<ConsoleDeps, 'status' | 'catalog' | 'rollup'>;
  return { deps, looks: () => seq };
}

describe('live console events', () => {
  it('a page that stops reading is skipped past a bounded backlog while the others keep getting every change', async () => {
    const { deps } = movingStatus();
    const live = new LiveEvents(deps);
    const stalled = live.subscribe(new Set(['tree'] as const), new Map());
    const reader = live.subscribe(new Set(['tree'] as const), new Map());
    let frames = 0;
    reader.on('data', (d: Buffer) => (frames += (d.toString().match(/^event: tree$/gm) ?? []).length));
    try {
      await waitFor('six frames at the reading page', () => frames >= 6, 15_000);
      // Six frames of ~30 KB were produced; the stalled page holds at most the limit plus one.
      assert.ok(stalled.writableLength <= BACKLOG_LIMIT_BYTES + 32 * 1024, `stalled backlog ${stalled.writableLength} bytes`);
    } finally {
      live.close();
    }
  });
});
