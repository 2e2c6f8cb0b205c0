import type { CatalogState, PackageView } from '../catalog/catalog-state.js';
import { RING_ALL } from '../catalog/records.js';
import { field, parseAll } from './deb822.js';
import { parseRelations, satisfies, type Relation } from './depends.js';
import type { FeedState } from './feed-state.js';

/** How long one check may run before it stops and says so. */
const CHECK_BUDGET_MS = 2000;

/** A dependency an approval leaves unmet in the ring, that a version in the feed would meet. */
export interface DependencyWarning {
  /** The package being approved. */
  readonly package: string;
  /** The relation, as the vendor wrote it. */
  readonly needs: string;
  /** The feed's package that would meet it, and the source to approve. */
  readonly candidate: string;
  readonly source: string;
  /** What to say. */
  readonly message: string;
}

/**
 * Before feed packages are approved for a ring: each one's `Depends` and `Pre-Depends` are
 * checked against the ring's index-to-be (what the ring receives, plus this act). A
 * dependency is named when a version meeting it exists in a feed but the ring will not have
 * one (not approved for it, or only approved elsewhere): machines would hold the upgrade back
 * or fail. A dependency no feed version meets is left alone: the machines' other sources
 * (the main archive under a security suite) provide it. Versions compare in dpkg's order.
 */
export async function dependencyWarnings(state: CatalogState, feeds: FeedState, ids: readonly string[], ring: string): Promise<DependencyWarning[]> {
  const approving = ids.map((id) => state.get(id)).filter((p): p is PackageView => p?.feed !== undefined);
  if (approving.length === 0) return [];
  // The ring's index-to-be, by name: what it receives now, and what this act adds.
  const toBe = new Map<string, string[]>();
  const add = (p: PackageView) => toBe.set(p.name, [...(toBe.get(p.name) ?? []), p.version]);
  for (const p of state.approved()) if (p.feed && state.isWantedBy(p, ring === RING_ALL ? [] : [ring])) add(p);
  for (const p of approving) add(p);
  const inRing = (r: Relation) => (toBe.get(r.name) ?? []).some((v) => satisfies(r, v));

  const out: DependencyWarning[] = [];
  const seen = new Set<string>();
  // Each name's feed versions looked up once per check, not once per alternative.
  const versions = new Map<string, readonly PackageView[]>();
  const feedVersions = (name: string) => {
    let list = versions.get(name);
    if (!list) versions.set(name, (list = state.byName(name).filter((c) => c.feedName !== undefined && !c.declined)));
    return list;
  };
  // A check that would take long (a vendor's pathological fields) says so and stops: it warns,
  // it must never hold the primary's event loop.
  const deadline = Date.now() + CHECK_BUDGET_MS;
  const outOfTime = (pkg: PackageView) => {
    if (Date.now() <= deadline) return false;
    out.push({ package: pkg.id, needs: '', candidate: '', source: '', message: `the dependencies of ${pkg.id} (and any after it in this act) were not all checked: the check stopped after ${CHECK_BUDGET_MS / 1000} s` });
    return true;
  };
  check: for (const pkg of approving) {
    for (const file of pkg.files) {
      const stanza = await feeds.stanza(pkg.id, file.platform ?? 'all');
      if (!stanza) continue;
      const paragraph = (await parseAll(stanza).catch(() => []))[0];
      if (!paragraph) continue;
      for (const group of [...parseRelations(field(paragraph, 'Pre-Depends')), ...parseRelations(field(paragraph, 'Depends'))]) {
        if (outOfTime(pkg)) break check;
        if (group.some(inRing)) continue;
        // The newest feed version that would meet one of the alternatives.
        let best: PackageView | undefined;
        let met: Relation | undefined;
        for (const r of group) {
          for (const candidate of feedVersions(r.name)) {
            if (!satisfies(r, candidate.version)) continue;
            if (!best || candidate.published.seq > best.published.seq) {
              best = candidate;
              met = r;
            }
          }
        }
        if (!best || !met) continue;
        const key = `${pkg.id}\u0000${met.text}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const source = best.source ?? { name: best.name, version: best.version };
        out.push({
          package: pkg.id,
          needs: met.text,
          candidate: best.id,
          source: `${source.name}@${source.version}`,
          message: `${pkg.id} needs ${met.text}, which is not approved for ${ring}: approve the source ${source.name} ${source.version} (sluice approve --source ${source.name}@${source.version} --ring ${ring})`,
        });
      }
    }
  }
  return out;
}
