import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { treeFragment } from '../../src/console/views/tree.js';
import type { ChildStatus } from '../../src/protocol/status.js';
import { nodeStatus } from '../helpers/status-fixture.js';

describe('console tree view', () => {
  it('shows each node of a 100-node tree once, with its state in words', () => {
    const now = Date.parse('2026-11-27T12:00:00Z');
    const children: Record<string, ChildStatus | null> = {};
    for (let h = 0; h < 4; h++) {
      const leaves: Record<string, ChildStatus | null> = {};
      for (let l = 0; l < (h < 3 ? 24 : 23); l++) {
        const name = `leaf-${h}-${l}`;
        leaves[name] = l === 0 ? null : (nodeStatus({
          node: name, primary: false, catalog: { seq: l === 1 ? 7 : 10, headExpires: null },
          upstream: { preferred: `hub-${h}`, current: l === 2 ? 'hq' : `hub-${h}`, lastSyncAt: null, clockSkewSeconds: null },
          pending: { blobs: l === 3 ? 2 : 0, bytes: l === 3 ? 8e6 : 0 },
          transfers: l === 3 ? [{ sha256: 'a'.repeat(64), packages: ['fix@1'], severity: 'critical', size: 8e6, offset: 2e6, state: 'active', rateBytesPerSec: 1e6, attempts: 1, peer: `hub-${h}`, lastError: null }] : [],
          lastError: l === 4 ? { code: 'CATALOG_STALE', message: '<b>replayed</b>', at: '2026-11-27T11:59:00Z' } : null,
          receivedAt: '2026-11-27T11:00:00Z', stale: l === 5,
        }) as ChildStatus);
      }
      children[`hub-${h}`] = nodeStatus({ node: `hub-${h}`, primary: false, catalog: { seq: 10, headExpires: null }, children: leaves, receivedAt: '2026-11-27T11:59:59Z', stale: false }) as ChildStatus;
    }
    const html = treeFragment(nodeStatus({ catalog: { seq: 10, headExpires: null }, children }), now).text;
    assert.match(html, /^<p class="count">100 nodes · <span class="badge warn">8 stale or silent<\/span>/);
    assert.equal((html.match(/<tr class="[^"]*" data-node="/g) ?? []).length, 96, 'one row per reporting node');
    assert.equal((html.match(/no report yet/g) ?? []).length, 4, 'silent nodes listed too');
    assert.match(html, /data-node="leaf-0-1"[\s\S]*?3 behind/);
    assert.match(html, /data-node="leaf-0-2"[\s\S]*?fallback<\/span> hq/);
    assert.match(html, /data-node="leaf-0-3"[\s\S]*?receiving 976\.6 KiB\/s[\s\S]*?<progress max="8000000" value="2000000"/);
    assert.match(html, /&lt;b&gt;replayed&lt;\/b&gt;/);
    assert.doesNotMatch(html, /<b>replayed/);
    assert.match(html, /data-node="leaf-0-5"[\s\S]*?stale since 2026-11-27 11:00Z/);
  });
});
