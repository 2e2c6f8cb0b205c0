/**
 * The layers of src/, checked by `npm test` (dependency-cruiser): imports run one way,
 * from the top of this list to the bottom, never back, and never in a cycle.
 *
 *   main → cli → daemon → http | console | replicate | agent | reports | client | offline | feeds | promote | audit
 *        → catalog | transfer | schedule | protocol | site → store | topology | tls | auth | metrics
 *        → errors | log | version | domain
 *
 * http and replicate are siblings that never import each other (the daemon joins them).
 */
const tiers = [
  ['main'],
  ['cli'],
  ['daemon'],
  ['http', 'console', 'replicate', 'agent', 'reports', 'client', 'offline', 'feeds', 'promote', 'audit'],
  ['catalog', 'download', 'schedule', 'protocol', 'site'],
  ['store', 'topology', 'tls', 'auth', 'metrics'],
  ['errors', 'log', 'version', 'domain'],
];
const folder = (names) => `^src/(${names.join('|')})(/|\\.ts$)`;

const forbidden = [
  { name: 'no-circular', comment: 'A cycle hides which part depends on which; break it with a leaf module or an interface.', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
  { name: 'http-not-replicate', comment: 'The daemon joins HTTP and replication; neither knows the other.', severity: 'error', from: { path: folder(['http']) }, to: { path: folder(['replicate']) } },
  { name: 'console-not-replicate', comment: 'The console reads what the node publishes through HttpDeps, never the replicator.', severity: 'error', from: { path: folder(['console']) }, to: { path: folder(['replicate']) } },
  { name: 'http-not-console', comment: 'The daemon registers the console on the node\'s server; the HTTP layer never knows the console (the console may use http/ helpers).', severity: 'error', from: { path: folder(['http']) }, to: { path: folder(['console']) } },
  { name: 'http-not-store-impl', comment: 'HTTP uses the store through its contract (store/blob-store.ts), never the file-system implementation.', severity: 'error', from: { path: folder(['http', 'console', 'replicate', 'download', 'feeds', 'offline', 'agent', 'reports']) }, to: { path: '^src/store/fs-blob-store\\.ts$' } },
  { name: 'replicate-not-http', comment: 'The daemon joins HTTP and replication; neither knows the other.', severity: 'error', from: { path: folder(['replicate']) }, to: { path: folder(['http']) } },
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
