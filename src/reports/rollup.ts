import type { z } from 'zod';
import { ChildPushes } from '../replicate/child-pushes.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { rollupPushSchema, type ReportStore, type SiteSummary } from './report-store.js';

const PUSHED_FAILURES_PER_SITE = 20;

/**
 * Report figures for a node's whole subtree: its own endpoints' summary plus the latest
 * rollup each downstream node pushed (which carries theirs), keyed by site. Head office sees
 * every site even when branches sit behind NAT, because figures travel upward.
 */
export class ReportRollup {
  private readonly pushes: ChildPushes<z.infer<typeof rollupPushSchema>>;

  constructor(
    topology: Topology,
    private readonly self: NodeSpec,
    private readonly store: ReportStore,
  ) {
    this.pushes = new ChildPushes(topology, self, rollupPushSchema, '{ "node": NAME, "nodes": { SITE: summary } }', (push) => Object.keys(push.nodes));
  }

  accept(body: unknown, caller: string | undefined): void {
    this.pushes.accept(body, caller);
  }

  /**
   * The subtree as pushed upstream: failures cut to the newest few per site, so a push
   * stays about 10 KiB per site and a 1,000-site tree fits the push body limit.
   */
  forPush(): Record<string, SiteSummary> {
    const out: Record<string, SiteSummary> = {};
    for (const [site, summary] of Object.entries(this.subtree())) out[site] = { ...summary, failures: summary.failures.slice(0, PUSHED_FAILURES_PER_SITE), ...(summary.withheld ? { withheld: summary.withheld.slice(0, PUSHED_FAILURES_PER_SITE) } : {}) };
    return out;
  }

  /** Site → summary for this node and everything below it. */
  subtree(): Record<string, SiteSummary> {
    const out: Record<string, SiteSummary> = { [this.self.name]: this.store.summary() };
    for (const [, { value }] of this.pushes.entries()) Object.assign(out, value.nodes as Record<string, SiteSummary>);
    return out;
  }
}
