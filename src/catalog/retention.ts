import type { CatalogState, PackageView } from './catalog-state.js';
import { RING_ALL } from './records.js';

/**
 * When a package stopped being wanted anywhere: declined; or, approved for some rings, once a
 * successor approved for each of them (or for all) replaced it there (the last of those
 * approvals); or, never approved, once a successor approved for all replaced it everywhere.
 * Undefined while a ring may still receive or approve it.
 */
function retiredSince(state: CatalogState, pkg: PackageView): number | undefined {
  if (pkg.declined) return Date.parse(pkg.declined.at);
  const rings = pkg.approvals.size > 0 ? [...pkg.approvals.keys()] : [RING_ALL];
  let since = 0;
  for (const ring of rings) {
    const successor = state.supersededFor(pkg, ring);
    if (successor === undefined) return undefined;
    const approval = state.get(successor)?.approvals;
    const at = approval?.get(ring) ?? approval?.get(RING_ALL);
    if (!at) return undefined;
    since = Math.max(since, Date.parse(at.at));
  }
  return since;
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
