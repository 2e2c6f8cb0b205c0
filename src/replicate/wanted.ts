import type { CatalogState } from '../catalog/catalog-state.js';
import { accepts } from '../catalog/node-accepts.js';
import { subtreeOf } from '../topology/tree.js';
import { type NodeSpec, type Topology } from '../topology/types.js';
import { RING_ALL } from '../catalog/records.js';
import { mostUrgent, type Severity } from '../domain/severity.js';

export { accepts };

export interface WantedBlob {
  readonly sha256: string;
  readonly size: number;
  /** The most urgent severity among the packages that want it. */
  readonly severity: Severity;
  /** Earliest relevant approval at the primary (ms since epoch): the start of replication lag. */
  readonly approvedAtMs: number;
  readonly packages: readonly string[];
}


/**
 * What `node` must hold: the files wanted by itself or any node below it (a hub relays
 * for its subtree), for packages approved for their rings or `all`, not declined and not
 * superseded by an approved package, matching their accept filters.
 */
export function wantedBlobs(topology: Topology, node: NodeSpec, state: CatalogState): Map<string, WantedBlob> {
  const members = [node, ...subtreeOf(topology, node.name)];
  const out = new Map<string, WantedBlob>();
  for (const pkg of state.approved()) {
    const wanting = members.filter((m) => state.isWantedBy(pkg, m.rings));
    if (wanting.length === 0) continue;
    const approvedAtMs = state.approvedAtMs(pkg, wanting.flatMap((m) => m.rings))!;
    for (const file of pkg.files) {
      if (!wanting.some((m) => accepts(m, file))) continue;
      const prev = out.get(file.sha256);
      out.set(file.sha256, {
        sha256: file.sha256,
        size: file.size,
        severity: prev ? mostUrgent(prev.severity, pkg.severity) : pkg.severity,
        approvedAtMs: prev ? Math.min(prev.approvedAtMs, approvedAtMs) : approvedAtMs,
        packages: prev ? [...prev.packages, pkg.id] : [pkg.id],
      });
    }
  }
  // The signed APT indexes of the rings this subtree serves (all of `all`): small files, kept
  // for every index still listed so a node serves the previous one until it holds the newest.
  // Critical: an index is valid for hours only (trust.aptIndexTtl), so its re-signed files
  // go first, whatever else is queued.
  // The rings' dnf repositories likewise.
  for (const [kind, rings, indexesOf] of [['apt', state.aptRings(), (r: string) => state.aptIndexesOf(r)], ['rpm', state.rpmRings(), (r: string) => state.rpmIndexesOf(r)]] as const) {
    for (const ring of rings) {
      if (ring !== RING_ALL && !members.some((m) => m.rings.includes(ring))) continue;
      for (const index of indexesOf(ring)) {
        for (const file of index.files) {
          if (out.has(file.sha256)) continue;
          out.set(file.sha256, { sha256: file.sha256, size: file.size, severity: 'critical', approvedAtMs: Date.parse(index.at), packages: [`${kind}:${ring}`] });
        }
      }
    }
  }
  return out;
}
