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

/** What an approval changes for one ring's machines: they move to the package, from `from`. */
export interface RingChange {
  readonly ring: string;
  /** The version its machines receive now and will leave (undefined: none of this package's line reaches them). */
  readonly from: string | undefined;
}

/** What an approval would set moving: which nodes newly fetch which bytes. */
export interface ApprovalPreview {
  readonly moves: readonly NodeMove[];
  /** Rings whose machines will receive the package, and the version each leaves. */
  readonly rings: readonly RingChange[];
  /** Other rings that receive a version of the package's line now, and keep it: `{ ring, keeps }`. */
  readonly unchanged: readonly { readonly ring: string; readonly keeps: string }[];
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
  const { rings, unchanged } = ringChanges(topology, state, pkg, ring);
  return { moves, rings, unchanged, already, filtered, totalBytes: moves.reduce((s, m) => s + m.bytes, 0) };
}

/**
 * Ring by ring, what machines move from: an approval for R replaces, for R alone, the version
 * of the same line (down the supersede links) that R receives now; an approval for `all` does
 * so for every ring that has no newer version approved. Every other ring keeps its own.
 */
function ringChanges(topology: Topology, state: CatalogState, pkg: PackageView, ring: string): { rings: RingChange[]; unchanged: { ring: string; keeps: string }[] } {
  const everyRing = [...topology.rings.filter((r) => r !== RING_ALL), RING_ALL];
  const line = lineOf(state, pkg);
  const rings: RingChange[] = [];
  const unchanged: { ring: string; keeps: string }[] = [];
  for (const r of everyRing) {
    const affected = ring === RING_ALL || r === ring;
    const received = line.filter((p) => state.receivedBy(p, r));
    if (affected && state.supersededFor(pkg, r) === undefined && !state.receivedBy(pkg, r)) {
      // The predecessor the ring receives now: a successor of the package is not (it would supersede it there).
      rings.push({ ring: r, from: received.find((p) => isBefore(state, p, pkg))?.id });
    } else if (received.length) unchanged.push({ ring: r, keeps: received.map((p) => p.id).join(', ') });
  }
  return { rings, unchanged };
}

/** The package's whole line: its predecessors and successors along the supersede links. */
function lineOf(state: CatalogState, pkg: PackageView): PackageView[] {
  let first = pkg;
  for (let hops = 0; first.supersedes && hops < 100_000; hops++) {
    const prev = state.get(first.supersedes);
    if (!prev) break;
    first = prev;
  }
  const out: PackageView[] = [];
  for (let p: PackageView | undefined = first, hops = 0; p && hops < 100_000; p = p.supersededBy ? state.get(p.supersededBy) : undefined, hops++) out.push(p);
  return out;
}

/** Whether `a` comes before `b` in their line. */
function isBefore(state: CatalogState, a: PackageView, b: PackageView): boolean {
  for (let next = a.supersededBy, hops = 0; next !== undefined && hops < 100_000; next = state.get(next)?.supersededBy, hops++) if (next === b.id) return true;
  return false;
}
