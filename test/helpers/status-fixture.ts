import type { NodeStatus } from '../../src/protocol/status.js';

/** A node's status as GET /v1/status gives it: an idle, up-to-date primary unless overridden. */
export function nodeStatus(overrides: Partial<NodeStatus> & { receivedAt?: string; stale?: boolean } = {}): NodeStatus & { receivedAt?: string; stale?: boolean } {
  return {
    node: 'hq',
    primary: true,
    region: 'main',
    rings: [],
    version: 'test',
    at: new Date().toISOString(),
    ready: true,
    upstream: null,
    catalog: { seq: 1, headExpires: null },
    store: { blobs: 0, bytes: 0 },
    pending: { blobs: 0, bytes: 0 },
    transfers: [],
    rate: null,
    forecast: { doneAt: null, pendingPackages: 0, late: [] },
    lastError: null,
    missing: [],
    lost: [],
    warnings: [],
    children: {},
    ...overrides,
  };
}
