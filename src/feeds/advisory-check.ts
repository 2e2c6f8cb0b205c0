import type { CatalogState } from '../catalog/catalog-state.js';
import { RING_ALL } from '../catalog/records.js';
import type { DependencyWarning } from './dependency-check.js';
import type { FeedState } from './feed-state.js';

/** Packages named per warning, at most (an advisory names tens). */
const NAMED = 5;

/**
 * Before RPM feed packages are approved for a ring: each advisory that names one of them is
 * checked against the ring's repository-to-be. An advisory is the vendor's unit of a fix (a
 * library and the programs built against it move together); approving part of it leaves the
 * ring's machines with a half-applied fix, and the ring's updateinfo.xml then names only the
 * part it has. Each package of the advisory the ring will not have (not approved for it, not
 * declined) is named, with the command that approves the whole advisory.
 */
export async function advisoryWarnings(state: CatalogState, feeds: FeedState, ids: readonly string[], ring: string): Promise<DependencyWarning[]> {
  const approving = new Set(ids);
  const out: DependencyWarning[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    const feed = state.get(id)?.feed?.name;
    if (!feed) continue;
    for (const advisory of (await feeds.advisoriesOf(id)) ?? []) {
      if (seen.has(`${advisory}\u0000${feed}`)) continue;
      seen.add(`${advisory}\u0000${feed}`);
      // The advisory as the package's own feed lists it: another feed may list the same id.
      const named = [...new Set(((await feeds.advisory(advisory, feed))?.packages ?? []).map((p) => p.id))];
      const byFeeds = (await feeds.advisoriesById(advisory)).length > 1 ? ` --feed ${feed}` : '';
      const missing = named.filter((other) => {
        if (approving.has(other)) return false;
        const pkg = state.get(other);
        return pkg !== undefined && !pkg.declined && !state.isWantedBy(pkg, ring === RING_ALL ? [] : [ring]) && state.supersededFor(pkg, ring) === undefined;
      });
      if (missing.length === 0) continue;
      const list = `${missing.slice(0, NAMED).join(', ')}${missing.length > NAMED ? ` and ${missing.length - NAMED} more` : ''}`;
      out.push({ package: id, needs: `advisory ${advisory}`, candidate: missing[0]!, source: advisory, message: `${id} is one of the ${named.length} packages of advisory ${advisory}; ${list} ${missing.length === 1 ? 'is' : 'are'} not approved for ${ring}: approve the whole advisory (sluice approve --advisory ${advisory}${byFeeds} --ring ${ring})` });
    }
  }
  return out;
}
