import type { CatalogState, PackageView } from '../catalog/catalog-state.js';
import { accepts } from '../catalog/node-accepts.js';
import { RING_ALL } from '../catalog/records.js';
import type { NodeSpec, Topology } from '../topology/types.js';

export interface NodeMove {
  readonly node: string;
  readonly region: string;
  readonly bytes: number;
  readonly files: number;
  /** `destination`: in the ring; `relay`: carries it for a node below. */
  readonly role: 'destination' | 'relay';
}

/** What an approval would set moving: which nodes newly fetch which bytes. */
export interface ApprovalPreview {
  readonly moves: readonly NodeMove[];
  /** Nodes in the ring that already want the package through another approval. */
  readonly already: readonly string[];
  /** Nodes in the ring whose accept filters take none of its files. */
  readonly filtered: readonly string[];
  readonly totalBytes: number;
}

/**
 * The confirmation an administrator reads before approving: nodes of the ring that accept at
 * least one file become destinations, their upstreams (short of the primary) relay the same
 * files. Computed by the same rules replication uses (rings, `all`, accept filters), from the
 * catalog as it is now.
 */
export function previewApproval(topology: Topology, state: CatalogState, pkg: PackageView, ring: string): ApprovalPreview {
  const inRing = (n: NodeSpec) => !n.isPrimary && (ring === RING_ALL || n.rings.includes(ring));
  const wantsNow = (n: NodeSpec) => state.isWantedBy(pkg, n.rings);
  const perNode = new Map<string, { files: Set<string>; role: 'destination' | 'relay' }>();
  const already: string[] = [];
  const filtered: string[] = [];
  for (const n of topology.nodes.values()) {
    if (!inRing(n)) continue;
    if (wantsNow(n)) {
      already.push(n.name);
      continue;
    }
    const files = pkg.files.filter((f) => accepts(n, f));
    if (files.length === 0) {
      filtered.push(n.name);
      continue;
    }
    const add = (name: string, role: 'destination' | 'relay') => {
      const entry = perNode.get(name) ?? { files: new Set<string>(), role };
      if (role === 'destination') entry.role = role;
      for (const f of files) entry.files.add(f.sha256);
      perNode.set(name, entry);
    };
    add(n.name, 'destination');
    for (let up = n.upstream ? topology.nodes.get(n.upstream) : undefined; up && !up.isPrimary; up = up.upstream ? topology.nodes.get(up.upstream) : undefined) add(up.name, 'relay');
  }
  const sizes = new Map(pkg.files.map((f) => [f.sha256, f.size]));
  const moves: NodeMove[] = [];
  for (const n of topology.nodes.values()) {
    const entry = perNode.get(n.name);
    if (!entry) continue;
    const bytes = [...entry.files].reduce((sum, sha) => sum + (sizes.get(sha) ?? 0), 0);
    moves.push({ node: n.name, region: n.region, bytes, files: entry.files.size, role: entry.role });
  }
  return { moves, already, filtered, totalBytes: moves.reduce((s, m) => s + m.bytes, 0) };
}
