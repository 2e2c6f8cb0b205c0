import type { CatalogState, PackageView } from '../catalog/catalog-state.js';
import { accepts } from '../catalog/node-accepts.js';
import { RING_ALL } from '../catalog/records.js';
import { REPORT_STATUSES, type ReportStatus } from '../domain/report-statuses.js';
import type { Severity } from '../domain/severity.js';
import { compareFeedVersions } from '../feeds/version-order.js';
import { planRows, type StatusJson } from '../protocol/status-text.js';
import { subtreeOf } from '../topology/tree.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { COMPLIANT_STATUSES } from './compliance.js';
import type { RingSummary, SiteSummary } from './report-store.js';

/**
 * Whether a node has a package its ring receives: `holds`; `fetching` (its status names it
 * pending); `behind` (its catalog predates the approval, so it does not know yet); `unknown`
 * (no status from it, or it has more pending than its status names, or a node of an earlier
 * version that names none).
 */
export type Holding = 'holds' | 'fetching' | 'behind' | 'unknown';

export interface RingNode {
  readonly node: string;
  /** `member`: serves machines of the ring; `relay`: carries the package for a member below it. */
  readonly role: 'member' | 'relay';
  readonly state: Holding;
  /** While fetching: when it should hold the package by its forecast (never before its upstream); null when not within the horizon. */
  readonly expectedBy?: string | null;
}

/** One site's endpoints of the ring, for one package. */
export interface RingSiteFigures {
  readonly site: string;
  /** Endpoints of the ring known at the site (those that reported anything for the ring). */
  readonly clients: number;
  /** Endpoints by status, for the statuses some endpoint is in. */
  readonly counts: Partial<Record<ReportStatus, number>>;
}

/** Endpoints of the ring over all its sites, for one package. */
export interface RingEndpoints {
  readonly clients: number;
  readonly counts: Record<ReportStatus, number>;
  /** Endpoints of the ring that sent nothing for this package. */
  readonly notReported: number;
  /** Compliant endpoints in percent (one decimal, rounded down); null when the ring has no endpoints. */
  readonly compliantPercent: number | null;
  /** The sites where the ring has endpoints. */
  readonly sites: readonly RingSiteFigures[];
}

/** A version the ring's machines receive now. */
export interface RingVersion {
  readonly id: string;
  readonly version: string;
  readonly severity: Severity;
  /** The approval it reaches the ring through: the ring's own, or `all`. */
  readonly via: string;
  readonly approvedAt: string;
  /** Nodes of the ring that take at least one of its files, and the hubs that relay it to them. */
  readonly nodes: readonly RingNode[];
  readonly endpoints: RingEndpoints;
}

export interface RingPackage {
  readonly name: string;
  /** Newest first: the feed's version order (Debian's or rpm's) for a feed's packages, else the order they were published in. */
  readonly versions: readonly RingVersion[];
}

export interface RingView {
  /** A ring of the topology, or `all` (machines of no ring). */
  readonly ring: string;
  /** Nodes serving the ring's machines (`all`: nodes without a ring), as far as this node sees. */
  readonly nodes: readonly string[];
  /** Sites whose endpoints count for the ring (its nodes, and any site where endpoints named it), with the ring's endpoints at each. */
  readonly sites: readonly { readonly site: string; readonly clients: number }[];
  /** Endpoints of the ring over those sites. */
  readonly clients: number;
  /** Package names the ring receives (that match the filter), over all pages. */
  readonly names: number;
  /** The names of the page asked for, by name. */
  readonly packages: readonly RingPackage[];
}

export interface RingsViewInput {
  readonly catalog: CatalogState;
  readonly topology: Topology;
  /** This node's status with its subtree (GET /v1/status): nodes outside its subtree are not shown; one whose status has not arrived is `unknown`. */
  readonly status: StatusJson;
  /** The report summary of each site the caller may read (GET /v1/reports `sites`). */
  readonly sites: Readonly<Record<string, SiteSummary>>;
}

/** Package names per page when the caller names none, and at most. */
export const RINGS_PAGE = { default: 200, max: 1000 } as const;

/** One page of the by-ring view: every ring's heading, and the package names of the window. */
export interface RingsPage {
  /** Each ring asked for, in topology order then `all`; `packages` holds the names of this page only. */
  readonly rings: readonly RingView[];
  /** (ring, package name) pairs over all pages; this page holds those from `offset`, at most `limit`. */
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
}

/**
 * The by-ring view of `sluice status --by-ring`, `GET /v1/rings` and the console's Rings: per
 * ring (and `all`), each package name with the versions the ring's machines receive now, the
 * nodes that hold each (or are fetching it) and its endpoints' outcomes in that ring. Read from
 * the catalog, the topology, the statuses nodes push up and the sites' report summaries; it
 * changes nothing. Paged over (ring, name) pairs, in ring order then by name: only the
 * names of the page get their rows built, so a page costs the same in a catalog of any size
 * beyond one pass over it.
 *
 * `ring`: that ring only; `q`: package names containing it (any case).
 */
export function ringsView(input: RingsViewInput, only: { ring?: string; q?: string; offset?: number; limit?: number } = {}): RingsPage {
  const { catalog, topology, status, sites } = input;
  const offset = Math.max(0, Math.floor(only.offset ?? 0));
  const limit = Math.min(RINGS_PAGE.max, Math.max(1, Math.floor(only.limit ?? RINGS_PAGE.default)));
  const statuses = statusesOf(status);
  // Every node of the subtree, reported or not: a silent node is shown as unknown, not left out.
  for (const n of subtreeOf(topology, status.node)) if (!statuses.has(n.name)) statuses.set(n.name, null);
  const expected = new Map(planRows(status).map((r) => [r.node, r.doneAt]));
  const q = only.q?.trim().toLowerCase() || undefined;
  const rings = [...topology.rings.filter((r) => r !== RING_ALL), RING_ALL].filter((r) => only.ring === undefined || r === only.ring);
  const out: RingView[] = [];
  let index = 0;
  for (const ring of rings) {
    const members = [...topology.nodes.values()].filter((n) => statuses.has(n.name) && memberOf(n, ring));
    const ringSites = Object.keys(sites).filter((site) => {
      const spec = topology.nodes.get(site);
      return (spec !== undefined && memberOf(spec, ring)) || sites[site]!.rings?.[ring] !== undefined;
    });
    const figures = new Map(ringSites.map((site) => [site, figuresFor(sites[site]!, topology.nodes.get(site), ring)]));
    const clients = [...figures.values()].reduce((n, f) => n + f.clients, 0);
    const byName = new Map<string, PackageView[]>();
    for (const pkg of catalog.all()) {
      if (q !== undefined && !pkg.name.toLowerCase().includes(q)) continue;
      if (!catalog.receivedBy(pkg, ring)) continue;
      const list = byName.get(pkg.name) ?? [];
      list.push(pkg);
      byName.set(pkg.name, list);
    }
    const names = [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // The part of this ring's names that falls in the page.
    const from = Math.max(0, offset - index);
    const to = Math.max(from, Math.min(names.length, offset + limit - index));
    index += names.length;
    const packages = names.slice(from, to).map((name) => ({
      name,
      versions: byName.get(name)!.sort((a, b) => newestFirst(topology, a, b)).map((pkg) => versionRow(catalog, topology, pkg, ring, members, statuses, expected, figures)),
    }));
    out.push({ ring, nodes: members.map((n) => n.name), sites: [...figures].map(([site, f]) => ({ site, clients: f.clients })), clients, names: names.length, packages });
  }
  return { rings: out, total: index, offset, limit };
}

/** Machines of `ring` are served by the node: its own ring, or, for `all`, a node of no ring. */
function memberOf(node: NodeSpec, ring: string): boolean {
  return ring === RING_ALL ? node.rings.length === 0 : node.rings.includes(ring);
}

/** Every status of the tree by node name; null for a node that has not reported yet. */
function statusesOf(root: StatusJson): Map<string, StatusJson | null> {
  const out = new Map<string, StatusJson | null>();
  const walk = (name: string, s: StatusJson | null) => {
    out.set(name, s);
    for (const [kid, ks] of Object.entries(s?.children ?? {})) walk(kid, ks);
  };
  walk(root.node, root);
  return out;
}

/**
 * The figures of a site's endpoints of `ring`: those that named it. A site of no ring counts
 * all its endpoints for `all`, and a site of one ring those that named none too (reports from
 * before endpoints named their ring), as the node itself fills in its one ring.
 */
function figuresFor(summary: SiteSummary, spec: NodeSpec | undefined, ring: string): RingSummary {
  const own = summary.rings?.[ring];
  if (spec && spec.rings.length === 0 && ring === RING_ALL) return { clients: summary.clients, packages: summary.packages };
  if (own) return own;
  if (spec && spec.rings.length === 1 && spec.rings[0] === ring) return { clients: summary.clients, packages: summary.packages };
  return { clients: 0, packages: {} };
}

function newestFirst(topology: Topology, a: PackageView, b: PackageView): number {
  if (a.feed && b.feed && a.feed.name === b.feed.name) return compareFeedVersions(topology, a.feed.name, b.version, a.version);
  return b.published.seq - a.published.seq;
}

function versionRow(
  catalog: CatalogState,
  topology: Topology,
  pkg: PackageView,
  ring: string,
  members: readonly NodeSpec[],
  statuses: ReadonlyMap<string, StatusJson | null>,
  expected: ReadonlyMap<string, string | null>,
  figures: ReadonlyMap<string, RingSummary>,
): RingVersion {
  const own = pkg.approvals.get(ring);
  const everywhere = pkg.approvals.get(RING_ALL);
  // The approval a node had to learn of: the earlier of the ring's own and `all`.
  const approval = own && everywhere ? (own.seq <= everywhere.seq ? own : everywhere) : (own ?? everywhere)!;
  const via = approval === own ? ring : RING_ALL;
  const roles = new Map<string, 'member' | 'relay'>();
  for (const m of members) {
    if (!pkg.files.some((f) => accepts(m, f))) continue;
    roles.set(m.name, 'member');
    // Its upstreams carry the files to it, short of the primary (the source of every file).
    for (let up = m.upstream ? topology.nodes.get(m.upstream) : undefined; up && !up.isPrimary; up = up.upstream ? topology.nodes.get(up.upstream) : undefined) {
      if (statuses.has(up.name) && !roles.has(up.name)) roles.set(up.name, 'relay');
    }
  }
  const nodes: RingNode[] = [];
  for (const spec of topology.nodes.values()) {
    const role = roles.get(spec.name);
    if (!role) continue;
    const state = holding(statuses.get(spec.name) ?? null, pkg.id, approval.seq);
    const eta = state === 'fetching' ? (statuses.get(spec.name)?.forecast?.late.find((l) => l.id === pkg.id)?.eta ?? expected.get(spec.name) ?? null) : undefined;
    nodes.push({ node: spec.name, role, state, ...(state === 'fetching' ? { expectedBy: eta } : {}) });
  }
  return { id: pkg.id, version: pkg.version, severity: pkg.severity, via, approvedAt: approval.at, nodes, endpoints: endpointsOf(pkg.id, figures) };
}

/** What a node's status says about one package approved at catalog position `approvedSeq`. */
function holding(s: StatusJson | null, id: string, approvedSeq: number): Holding {
  if (!s) return 'unknown';
  if (s.catalog.seq < approvedSeq) return 'behind';
  const named = s.pending.packages;
  if (named?.includes(id)) return 'fetching';
  if (s.pending.blobs === 0) return 'holds';
  // Something is pending: only a complete list says this package is not part of it.
  return named !== undefined && (s.pending.morePackages ?? 0) === 0 ? 'holds' : 'unknown';
}

/**
 * The ring's endpoints for one package, over its sites. Per site only where the ring has
 * endpoints, with the statuses some endpoint is in: a version row stays small when a ring
 * spans hundreds of sites.
 */
function endpointsOf(id: string, figures: ReadonlyMap<string, RingSummary>): RingEndpoints {
  const counts = Object.fromEntries(REPORT_STATUSES.map((s) => [s, 0])) as Record<ReportStatus, number>;
  let clients = 0;
  const sites: RingSiteFigures[] = [];
  for (const [site, f] of figures) {
    if (f.clients === 0) continue;
    const here = f.packages[id] ?? {};
    for (const s of REPORT_STATUSES) counts[s] += here[s] ?? 0;
    clients += f.clients;
    sites.push({ site, clients: f.clients, counts: { ...here } });
  }
  const reported = REPORT_STATUSES.reduce((n, s) => n + counts[s], 0);
  const compliant = COMPLIANT_STATUSES.reduce((n, s) => n + counts[s], 0);
  return { clients, counts, notReported: Math.max(0, clients - reported), compliantPercent: clients > 0 ? Math.floor((compliant / clients) * 1000) / 10 : null, sites };
}
