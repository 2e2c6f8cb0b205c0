/**
 * The node protocol's routes, in one place: servers register these paths and every client
 * (nodes, agents) builds its URLs with these functions, so the two never drift apart.
 * README "HTTP API" documents each.
 */
export const PATHS = {
  catalog: '/v1/catalog',
  blob: '/v1/blobs/:sha256',
  blobBatch: '/v1/blobs/batch',
  status: '/v1/status',
  reports: '/v1/reports',
  reportsRollup: '/v1/reports/rollup',
  reportsImport: '/v1/reports/import',
  updates: '/v1/updates',
  root: '/v1/root',
  readyz: '/readyz',
  pace: '/v1/pace',
  feeds: '/v1/feeds',
  approvals: '/v1/approvals',
  feedSync: '/v1/feeds/:name/sync',
} as const;

/** GET: records after `after` (held up to `waitSec` when there are none), at most `limit`. */
export const catalogUrl = (base: string, after: number, limit: number, waitSec = 0): string =>
  `${base}${PATHS.catalog}?after=${after}${waitSec > 0 ? `&wait=${waitSec}` : ''}&limit=${limit}`;

export const blobUrl = (base: string, sha256: string): string => `${base}/v1/blobs/${sha256}`;

export const blobBatchUrl = (base: string): string => `${base}${PATHS.blobBatch}`;

export const readyzUrl = (base: string): string => `${base}${PATHS.readyz}`;

/** GET: asks the upstream to send to this node at `rate` bytes/s (0: no pace of its own); answers at once. */
export const paceUrl = (base: string, rateBytesPerSec: number): string => `${base}${PATHS.pace}?rate=${Math.max(0, Math.round(rateBytesPerSec))}`;

export const updatesUrl = (base: string, query: URLSearchParams): string => `${base}${PATHS.updates}?${query}`;

export const reportsUrl = (base: string): string => `${base}${PATHS.reports}`;

/** POST (admin, primary): sync one vendor feed now. */
export const feedSyncPath = (name: string): string => PATHS.feedSync.replace(':name', encodeURIComponent(name));
