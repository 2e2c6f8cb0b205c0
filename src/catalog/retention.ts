import type { CatalogState, PackageView } from './catalog-state.js';

/**
 * When a package stopped being wanted anywhere: superseded by a package approved since (its
 * first approval), or declined. Undefined while it may still be installed.
 */
function retiredSince(state: CatalogState, pkg: PackageView): number | undefined {
  if (pkg.declined) return Date.parse(pkg.declined.at);
  if (state.stateOf(pkg) !== 'superseded') return undefined;
  const successor = pkg.supersededBy ? state.get(pkg.supersededBy) : undefined;
  const approvals = successor ? [...successor.approvals.values()].map((d) => Date.parse(d.at)) : [];
  return approvals.length ? Math.min(...approvals) : undefined;
}

/**
 * The files the primary no longer keeps under `policy.retainSuperseded`: those of packages
 * superseded by an approved package (or declined) for at least `retainMs`, unless a package
 * still kept names the same file. One rule for the store's clean-up, the lost-file check and
 * `sluice recover`, so a retired file is never reported lost or fetched back.
 */
export function retiredBlobs(state: CatalogState, retainMs: number | undefined, nowMs: number): Set<string> {
  const retired = new Set<string>();
  if (retainMs === undefined) return retired;
  const kept = new Set<string>();
  for (const pkg of state.all()) {
    const since = retiredSince(state, pkg);
    const gone = since !== undefined && nowMs - since >= retainMs;
    for (const f of pkg.files) (gone ? retired : kept).add(f.sha256);
  }
  for (const sha of kept) retired.delete(sha);
  return retired;
}
