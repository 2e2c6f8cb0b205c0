import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiveEvents, frame } from '../../src/console/live-events.js';
import type { ConsoleDeps } from '../../src/console/view-context.js';
import { treeFragment } from '../../src/console/views/tree.js';
import type { StatusJson } from '../../src/protocol/status-text.js';
import { waitFor } from '../helpers/env.js';
import { nodeStatus } from '../helpers/status-fixture.js';

describe('what a node renders from pushed text never breaks the page or the process', () => {
  it('CR, LF and CRLF each start a new data field: pushed text cannot open a field of its own', () => {
    const text = frame('tree', 'a\rid: 7\r\nevent: evil\nb');
    const lines = text.split(/\r\n|\r|\n/).filter(Boolean);
    assert.deepEqual(lines, ['event: tree', 'data: a', 'data: id: 7', 'data: event: evil', 'data: b']);
    assert.ok(!/\r/.test(text));
  });

  it('a node whose figures cannot be rendered shows as "unreadable"; the rest of the tree stands', () => {
    const bad = { node: 'leaf', transfers: 'not a list' } as unknown as StatusJson;
    const root = nodeStatus({ node: 'hq', children: { hub: nodeStatus({ node: 'hub', children: { leaf: bad as never } }) } } as never) as unknown as StatusJson;
    const out = treeFragment(root, Date.now()).text;
    assert.match(out, /data-node="hub"/);
    assert.match(out, /data-node="leaf"[\s\S]*unreadable/);
  });

  it('a tick whose rendering throws is reported and retried; the timer never takes the process down', async () => {
    let errors = 0;
    let calls = 0;
    const deps = {
      status: () => {
        calls++;
        throw new TypeError('a status that cannot be read');
      },
      catalog: { seq: 0 },
      rollup: { subtree: () => ({}) },
      onError: () => errors++,
    } as unknown as Pick<ConsoleDeps, 'status' | 'catalog' | 'rollup'> & { onError: () => void };
    const live = new LiveEvents(deps);
    const stream = live.subscribe(new Set(['tree', 'catalog'] as const), new Map());
    let received = '';
    stream.on('data', (d: Buffer) => (received += d.toString()));
    try {
      await waitFor('two failing ticks', () => errors >= 2, 10_000);
      assert.ok(calls >= 2);
    } finally {
      live.close();
    }
  });
});
