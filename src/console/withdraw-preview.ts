import type { CatalogState, PackageView } from '../catalog/catalog-state.js';
import { RING_ALL } from '../catalog/records.js';
import type { Topology } from '../topology/types.js';

/** What withdrawing an approval does for one ring's machines. */
export type WithdrawOutcome =
  /** A successor approved for the ring replaced the package there already: no machine changes. */
  | { readonly ring: string; readonly kind: 'replaced'; readonly by: string }
  /** The ring keeps receiving it through the package's approval for `all`. */
  | { readonly ring: string; readonly kind: 'through-all' }
  /** The ring's machines go back to the newest earlier version still approved for it. */
  | { readonly ring: string; readonly kind: 'falls-back'; readonly to: string }
  /** No version of the package's line reaches the ring any more. */
  | { readonly ring: string; readonly kind: 'none' };

/**
 * The confirmation before `sluice decline ID --ring R` from the console: for R (for `all`,
 * every ring that receives the package through that approval), what its machines receive
 * afterwards. Same rules as catalog-state.ts, applied to the catalog as it is now.
 */
export function previewWithdraw(topology: Topology, state: CatalogState, pkg: PackageView, ring: string): WithdrawOutcome[] {
  const everyRing = [...topology.rings.filter((r) => r !== RING_ALL), RING_ALL];
  // Withdrawing `all` reaches the rings that have no approval of their own.
  const affected = ring === RING_ALL ? everyRing.filter((r) => r === RING_ALL || !pkg.approvals.has(r)) : [ring];
  return affected.flatMap((r): WithdrawOutcome[] => {
    if (!state.approvedFor(pkg, r)) return [];
    const by = state.supersededFor(pkg, r);
    if (by) return [{ ring: r, kind: 'replaced', by }];
    if (ring !== RING_ALL && pkg.approvals.has(RING_ALL)) return [{ ring: r, kind: 'through-all' }];
    // The nearest earlier version approved for the ring (or all) is what it receives again.
    let prev = pkg.supersedes ? state.get(pkg.supersedes) : undefined;
    for (let hops = 0; prev && hops < 100_000; hops++) {
      if (state.approvedFor(prev, r)) return [{ ring: r, kind: 'falls-back', to: prev.id }];
      prev = prev.supersedes ? state.get(prev.supersedes) : undefined;
    }
    return [{ ring: r, kind: 'none' }];
  });
}
