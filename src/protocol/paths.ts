/**
 * Every HTTP route, in one place: servers register these paths and every client (nodes,
 * agents, the CLI, the console's pages) builds its URLs with these functions, so the two
 * never drift apart. docs/http-api.md documents each (a test checks both ways).
 */
export const PATHS = {
  catalog: '/v1/catalog',
  packages: '/v1/packages',
  package: '/v1/packages/:id',
  approve: '/v1/packages/:id/approve',
  decline: '/v1/packages/:id/decline',
  verify: '/v1/verify',
  import: '/v1/import',
  metrics: '/metrics',
  healthz: '/healthz',
  aptKey: '/apt/key.asc',
  aptFile: '/apt/:ring/*',
  rpmFile: '/rpm/:ring/*',
  blob: '/v1/blobs/:sha256',
  blobBatch: '/v1/blobs/batch',
  status: '/v1/status',
  reports: '/v1/reports',
  reportsRollup: '/v1/reports/rollup',
  reportsImport: '/v1/reports/import',
  rings: '/v1/rings',
  updates: '/v1/updates',
  root: '/v1/root',
  readyz: '/readyz',
  pace: '/v1/pace',
  feeds: '/v1/feeds',
  promotions: '/v1/promotions',
  approvals: '/v1/approvals',
  feedSync: '/v1/feeds/:name/sync',
  tokens: '/v1/tokens',
  token: '/v1/tokens/:name',
  audit: '/v1/audit',
  auditRollup: '/v1/audit/rollup',
} as const;

/** GET: records after `after` (held up to `waitSec` when there are none), at most `limit`. */
/**
 * A page of the catalog after `after`. Every client of this version asks for the compact
 * form (records without `prev` and `hash`, which it derives from the chain it verifies) and
 * accepts gzip: a record of Debian main then takes about a third of the bytes.
 */
export const catalogUrl = (base: string, after: number, limit: number, waitSec = 0): string =>
  `${base}${PATHS.catalog}?after=${after}${waitSec > 0 ? `&wait=${waitSec}` : ''}&limit=${limit}&compact=1`;

export const blobPath = (sha256: string): string => PATHS.blob.replace(':sha256', sha256);

export const blobUrl = (base: string, sha256: string): string => `${base}${blobPath(sha256)}`;

/** GET (CLI export): a page of catalog records after `after`. */
export const catalogPath = (after: number, limit: number): string => `${PATHS.catalog}?after=${after}&limit=${limit}`;

export const packagePath = (id: string): string => PATHS.package.replace(':id', encodeURIComponent(id));
export const approvePath = (id: string): string => PATHS.approve.replace(':id', encodeURIComponent(id));
export const declinePath = (id: string): string => PATHS.decline.replace(':id', encodeURIComponent(id));

export const statusUrl = (base: string): string => `${base}${PATHS.status}`;

export const blobBatchUrl = (base: string): string => `${base}${PATHS.blobBatch}`;

export const readyzUrl = (base: string): string => `${base}${PATHS.readyz}`;

/** GET: asks the upstream to send to this node at `rate` bytes/s (0: no pace of its own); answers at once. */
export const paceUrl = (base: string, rateBytesPerSec: number): string => `${base}${PATHS.pace}?rate=${Math.max(0, Math.round(rateBytesPerSec))}`;

export const updatesUrl = (base: string, query: URLSearchParams): string => `${base}${PATHS.updates}?${query}`;

export const reportsUrl = (base: string): string => `${base}${PATHS.reports}`;

/** GET: a page of the by-ring view (`sluice status --by-ring`), one ring or every one. */
export const ringsPath = (q: { ring?: string; offset?: number; limit?: number } = {}): string => {
  const query = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return query ? `${PATHS.rings}?${query}` : PATHS.rings;
};

/** POST (admin, primary): sync one vendor feed now. */
export const feedSyncPath = (name: string): string => PATHS.feedSync.replace(':name', encodeURIComponent(name));
