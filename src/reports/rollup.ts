import { z } from 'zod';
import { RING_ALL } from '../catalog/records.js';
import { escapeUnprintable, isPrintable } from '../domain/printable.js';
import { SluiceError } from '../errors.js';
import type { SubtreePush } from '../protocol/subtree-push.js';
import { SubtreeMirror } from '../protocol/subtree-mirror.js';
import type { PushedEntry } from '../protocol/subtree-pusher.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { MAX_SITE_SUMMARY_BYTES, siteSummarySchema, type ReportStore, type SiteSummary } from './report-store.js';

const PUSHED_FAILURES_PER_SITE = 20;

/**
 * Report figures for a node's whole subtree: its own endpoints' summary plus what the
 * downstream nodes pushed about theirs (subtree-push.ts), keyed by site. Head office sees
 * every site even when branches sit behind NAT, because figures travel upward.
 */
export class ReportRollup {
  private readonly mirror: SubtreeMirror<SiteSummary>;

  constructor(
    private readonly topology: Topology,
    private readonly self: NodeSpec,
    private readonly store: ReportStore,
    staleMs: number,
  ) {
    this.mirror = new SubtreeMirror(topology, self, siteSummarySchema, MAX_SITE_SUMMARY_BYTES, staleMs, legacyRollupPush);
  }

  accept(body: unknown, caller: string | undefined): void {
    this.mirror.accept(body, caller);
  }

  /**
   * The subtree as pushed upstream: failures cut to the newest few per site, so a site's
   * entry stays about 10 KiB when it changes.
   */
  forPush(): Map<string, PushedEntry<SiteSummary>> {
    const cut = (s: SiteSummary): SiteSummary => ({ ...s, failures: s.failures.slice(0, PUSHED_FAILURES_PER_SITE), ...(s.withheld ? { withheld: s.withheld.slice(0, PUSHED_FAILURES_PER_SITE) } : {}) });
    const out = new Map<string, PushedEntry<SiteSummary>>([[this.self.name, { parent: null, value: cut(this.store.summary()), stale: false }]]);
    for (const e of this.mirror.entries()) out.set(e.name, { parent: e.parent, value: this.servedOnly(e.name, e.value), stale: e.stale });
    return out;
  }

  /**
   * A report file from a site without a link (`sluice report --export`), taken by an admin
   * at an upstream node (`sluice report --import`). Returns what it named.
   */
  adoptFile(body: unknown): { node: string; sites: number; exportedAt: string } {
    const parsed = reportFileSchema.safeParse(body);
    if (!parsed.success) throw new SluiceError('BAD_REQUEST', `not a report file written by "sluice report --export": ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const f = parsed.data;
    const entries = Object.fromEntries(Object.entries(f.sites).map(([site, value]) => [site, { parent: site === f.node ? null : f.node, value }]));
    // A file dated in the future (a wrong clock at the site) must not outrank every later push.
    this.mirror.adopt({ node: f.node, epoch: 'imported', seq: 0, base: null, entries, removed: [], stale: [] }, Math.min(Date.parse(f.exportedAt), Date.now()));
    return { node: f.node, sites: Object.keys(f.sites).length, exportedAt: f.exportedAt };
  }

  /** Site → summary for this node and everything below it. */
  subtree(): Record<string, SiteSummary> {
    const out: Record<string, SiteSummary> = { [this.self.name]: this.store.summary() };
    for (const e of this.mirror.entries()) out[e.name] = this.servedOnly(e.name, e.value);
    return out;
  }

  /**
   * A site's figures with only the rings its node serves (and `all`): its endpoints can be in
   * no other, so figures for another ring are a node's (or a hub's) lie, and would move that
   * ring's promotion gate from a site outside it. Dropped at every hop.
   */
  private servedOnly(site: string, s: SiteSummary): SiteSummary {
    // A pushed failure message is shown at head office: escaped whatever the node below did.
    if (s.failures.some((f) => f.error !== null && !isPrintable(f.error))) s = { ...s, failures: s.failures.map((f) => (f.error === null ? f : { ...f, error: escapeUnprintable(f.error) })) };
    if (!s.rings) return s;
    const served = new Set([RING_ALL, ...(this.topology.nodes.get(site)?.rings ?? [])]);
    const kept = Object.entries(s.rings).filter(([ring]) => served.has(ring));
    if (kept.length === Object.keys(s.rings).length) return s;
    const { rings: _all, ...rest } = s;
    return kept.length ? { ...rest, rings: Object.fromEntries(kept) } : rest;
  }
}

/** What `sluice report --export` writes: a node's figures for its subtree, for a disk. */
export const reportFileSchema = z
  .object({ format: z.literal(1), node: z.string().min(1), exportedAt: z.string().datetime(), sites: z.record(siteSummarySchema) })
  .strict();

/** A push from a node of an earlier version: `{ node, nodes: { SITE: summary } }`, whole. */
function legacyRollupPush(body: unknown): SubtreePush<SiteSummary> | undefined {
  const parsed = z.object({ node: z.string(), nodes: z.record(siteSummarySchema) }).safeParse(body);
  if (!parsed.success) return undefined;
  const entries = Object.fromEntries(Object.entries(parsed.data.nodes).map(([site, value]) => [site, { parent: site === parsed.data.node ? null : parsed.data.node, value }]));
  return { node: parsed.data.node, epoch: 'legacy', seq: 0, base: null, entries, removed: [], stale: [] };
}
