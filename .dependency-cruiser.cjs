/**
 * The layers of src/, checked by `npm test` (dependency-cruiser): imports run one way,
 * from the top of this list to the bottom, never back, and never in a cycle. Every folder
 * of src/ is in a tier (a docs test checks it, and draws docs/architecture.md from `tiers`
 * and `roles`).
 *
 * Roles cut across the tiers: what only the primary runs, what only a downstream node runs,
 * and what every node runs (the rest). Neither role imports the other, and what every node
 * runs imports neither.
 */
const tiers = [
  ['main'],
  ['cli'],
  ['daemon'],
  ['http', 'console', 'status', 'replicate', 'agent', 'reports', 'client', 'offline', 'feeds', 'promote', 'primary', 'audit'],
  ['catalog', 'download', 'schedule', 'protocol', 'site'],
  ['store', 'topology', 'tls', 'auth', 'metrics'],
  ['errors', 'log', 'version', 'domain'],
];
const roles = {
  primary: ['feeds', 'promote', 'primary'],
  downstream: ['replicate'],
};
/** Every node's folders that must know no role: `offline` is the CLI's (an import takes what a downstream node wants). */
const everyNode = ['http', 'console', 'status', 'agent', 'reports', 'client', 'audit', 'catalog', 'download', 'schedule', 'protocol', 'site', 'store', 'topology', 'tls', 'auth', 'metrics', 'errors', 'log', 'version', 'domain'];
const folder = (names) => `^src/(${names.join('|')})(/|\\.ts$)`;

const forbidden = [
  { name: 'no-circular', comment: 'A cycle hides which part depends on which; break it with a leaf module or an interface.', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
  { name: 'downstream-not-primary', comment: 'What only a downstream node runs never imports what only the primary runs.', severity: 'error', from: { path: folder(roles.downstream) }, to: { path: folder(roles.primary) } },
  { name: 'primary-not-downstream', comment: 'What only the primary runs never imports what only a downstream node runs.', severity: 'error', from: { path: folder(roles.primary) }, to: { path: folder(roles.downstream) } },
  {
    name: 'every-node-not-roles',
    comment: 'What every node runs (the store, the downloader, serving blobs and APT, status...) knows no role; the daemon joins them. The package formats (feeds/deb822.ts, a control-file parser; feeds/repodata-stream.ts, dnf metadata; feeds/version-order.ts over debian-version.ts and rpm-version.ts) are read by every node (APT and dnf serving, the by-ring view), not the primary\'s work.',
    severity: 'error',
    from: { path: folder(everyNode) },
    to: { path: folder([...roles.primary, ...roles.downstream]), pathNot: '^src/feeds/(deb822|debian-version|rpm-version|version-order|repodata-stream)\\.ts$' },
  },
  { name: 'replicate-not-http', comment: 'The daemon joins HTTP and replication; neither knows the other (HTTP is every node\'s, so it knows no role either).', severity: 'error', from: { path: folder(['replicate']) }, to: { path: folder(['http', 'console']) } },
  { name: 'http-not-console', comment: 'The daemon registers the console on the node\'s server; the HTTP layer never knows the console (the console may use http/ helpers).', severity: 'error', from: { path: folder(['http']) }, to: { path: folder(['console']) } },
  { name: 'http-not-store-impl', comment: 'Nothing above the store but the daemon, the CLI and catalog/node-data.ts opens the file-system implementation: the rest use the contract (store/blob-store.ts).', severity: 'error', from: { path: folder(['http', 'console', 'status', 'replicate', 'download', 'feeds', 'promote', 'primary', 'offline', 'agent', 'reports', 'audit']) }, to: { path: '^src/store/fs-blob-store\\.ts$' } },
  { name: 'download-not-catalog', comment: 'The downloader fetches blobs named by a want; what a package is and who wants it is for the planners.', severity: 'error', from: { path: folder(['download']) }, to: { path: folder(['catalog']) } },
  { name: 'beside-download', comment: 'The downloader sits on the catalog\'s tier neighbours (budgets, the protocol, site leases); they never know it.', severity: 'error', from: { path: folder(['catalog', 'schedule', 'protocol', 'site']) }, to: { path: folder(['download']) } },
  { name: 'status-not-http', comment: 'A node\'s status is built from its parts; the HTTP layer answers with it, never the other way.', severity: 'error', from: { path: folder(['status']) }, to: { path: folder(['http', 'console']) } },
];
tiers.forEach((tier, i) => {
  const above = tiers.slice(0, i).flat();
  if (above.length === 0) return;
  forbidden.push({
    name: `layer-${tier.join('-')}`,
    comment: `${tier.join(', ')} may import only what lies below it: ${tiers.slice(i + 1).flat().join(', ') || 'nothing of src'}`,
    severity: 'error',
    from: { path: folder(tier) },
    to: { path: folder(above) },
  });
});

module.exports = {
  forbidden,
  options: {
    // Type-only imports count: a type import is still a dependency of the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
  },
};
// Read by the architecture docs test (not by dependency-cruiser): the tiers and roles above.
Object.defineProperty(module.exports, 'layers', { value: { tiers, roles }, enumerable: false });
