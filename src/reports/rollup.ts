import { SluiceError } from '../errors.js';
import { pullsFrom } from '../topology/tree.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { rollupPushSchema, type ReportStore, type SiteSummary } from './report-store.js';

/**
 * Report figures for a node's whole subtree: its own endpoints' summary plus the latest
 * rollup each downstream node pushed (which carries theirs), keyed by site. Head office sees
 * every site even when branches sit behind NAT, because figures travel upward.
 */
export class ReportRollup {
  private readonly children = new Map<string, { nodes: Record<string, SiteSummary>; receivedAt: number }>();

  constructor(
    private readonly topology: Topology,
    private readonly self: NodeSpec,
    private readonly store: ReportStore,
  ) {}

  accept(body: unknown): void {
    const parsed = rollupPushSchema.safeParse(body);
    if (!parsed.success) throw new SluiceError('BAD_REQUEST', `expected { "node": NAME, "nodes": { SITE: summary } }: ${parsed.error.issues[0]?.message ?? ''}`);
    if (!pullsFrom(this.topology, parsed.data.node, this.self.name)) {
      throw new SluiceError('FORBIDDEN', `node "${parsed.data.node}" does not pull from ${this.self.name}; only its downstream nodes report here`);
    }
    this.children.set(parsed.data.node, { nodes: parsed.data.nodes as Record<string, SiteSummary>, receivedAt: Date.now() });
  }

  /** Site → summary for this node and everything below it. */
  subtree(): Record<string, SiteSummary> {
    const out: Record<string, SiteSummary> = { [this.self.name]: this.store.summary() };
    for (const { nodes } of this.children.values()) Object.assign(out, nodes);
    return out;
  }
}
