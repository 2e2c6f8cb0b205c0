import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChildStatus, NodeStatus } from '../../src/protocol/status.js';
import { allHereText, planRows, type StatusJson } from '../../src/protocol/status-text.js';
import { nodeStatus } from '../helpers/status-fixture.js';

const soon = new Date(Date.UTC(2026, 11, 6, 7, 11)).toISOString();
const later = new Date(Date.UTC(2026, 11, 6, 9, 0)).toISOString();

const child = (node: string, pending: NodeStatus['pending'], doneAt: string | null): ChildStatus => ({
  ...nodeStatus({ node, primary: false, pending, forecast: { doneAt, pendingPackages: pending.packages?.length ?? 0, late: [] } }),
  receivedAt: soon,
  stale: false,
});

/**
 * The primary still fetches a vendor package approved for pilot that it will never hold (its
 * signature was refused): no forecast. `pilotNode` waits for that package; `broadNode` fetches
 * only what the primary holds.
 */
function tree(hqPending: NodeStatus['pending'], broadPending: NodeStatus['pending']): StatusJson {
  return nodeStatus({
    pending: hqPending,
    forecast: { doneAt: null, pendingPackages: 1, late: [] },
    children: {
      pilotNode: child('pilotNode', { blobs: 1, bytes: 6215, packages: ['hello-rpm@1.2-1.el9'], morePackages: 0 }, soon),
      broadNode: child('broadNode', broadPending, soon),
    },
  });
}

const doneAt = (root: StatusJson, node: string) => planRows(root).find((r) => r.node === node)?.doneAt;

describe('planRows: a node waits on its upstream only for what the upstream still fetches', () => {
  it('a node fetching what its upstream holds keeps its own forecast while the upstream is stuck on another package', () => {
    const root = tree({ blobs: 1, bytes: 6215, packages: ['hello-rpm@1.2-1.el9'], morePackages: 0 }, { blobs: 1, bytes: 150_000_000, packages: ['bigimg@1.0'], morePackages: 0 });
    assert.equal(doneAt(root, 'broadNode'), soon);
    assert.equal(doneAt(root, 'pilotNode'), null, 'the node waiting for the refused package is not expected within the horizon');
  });

  it('a node is not done before its upstream holds a package both wait for', () => {
    const root = nodeStatus({
      pending: { blobs: 1, bytes: 10, packages: ['big@1'], morePackages: 0 },
      forecast: { doneAt: later, pendingPackages: 1, late: [] },
      children: { a: child('a', { blobs: 2, bytes: 20, packages: ['big@1', 'small@1'], morePackages: 0 }, soon), b: child('b', { blobs: 1, bytes: 5, packages: ['small@1'], morePackages: 0 }, soon) },
    });
    assert.equal(doneAt(root, 'a'), later);
    assert.equal(doneAt(root, 'b'), soon);
  });

  it('a pending list cut short, or missing (an earlier version), proves nothing: the node waits on its upstream', () => {
    const cut = tree({ blobs: 30, bytes: 6215, packages: ['hello-rpm@1.2-1.el9'], morePackages: 29 }, { blobs: 1, bytes: 1, packages: ['bigimg@1.0'], morePackages: 0 });
    assert.equal(doneAt(cut, 'broadNode'), null);
    const old = tree({ blobs: 1, bytes: 6215, packages: ['hello-rpm@1.2-1.el9'], morePackages: 0 }, { blobs: 1, bytes: 1 });
    assert.equal(doneAt(old, 'broadNode'), null);
  });

  it('a silent node is never "all here now": its figures are its last report\'s', () => {
    const root = nodeStatus({
      pending: { blobs: 0, bytes: 0 },
      forecast: { doneAt: null, pendingPackages: 0, late: [] },
      children: { stopped: { ...child('stopped', { blobs: 0, bytes: 0, packages: [], morePackages: 0 }, null), stale: true }, live: child('live', { blobs: 0, bytes: 0, packages: [], morePackages: 0 }, null) },
    });
    const rows = planRows(root);
    const row = (n: string) => rows.find((r) => r.node === n)!;
    assert.equal(row('stopped').stale, true);
    assert.equal(allHereText(row('stopped')), 'unknown: silent');
    assert.equal(allHereText(row('live')), 'now');
  });
});
