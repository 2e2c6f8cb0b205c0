import type { AuditLog } from '../audit/audit-log.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import { approvalUnchanged } from '../catalog/decisions.js';
import type { RecordBody } from '../catalog/records.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SiteSummary } from '../reports/report-store.js';
import type { Topology } from '../topology/types.js';
import { gateVerdicts, type GateVerdict } from './gate-verdicts.js';
import type { PromotionDecision, PromotionLog } from './promotion-log.js';

export interface PromotionsView {
  /** Packages in a gated ring not yet given to the next, with their gate's verdict now. */
  readonly pending: readonly GateVerdict[];
  /** Promotions made, newest first, with the evidence each was decided on. */
  readonly decided: readonly PromotionDecision[];
}

/** Who the catalog and the audit trail name for a promotion (the record's `by` holds 128 characters). */
export const ruleName = (from: string, to: string) => `rule:${from.slice(0, 60)}→${to.slice(0, 60)}`;

/**
 * On the primary: evaluates every promotion gate against the endpoints' reports of the whole
 * tree (the report rollup) at a steady pace, approves what passes an `auto` gate for the next
 * ring as `rule:FROM→TO` (a signed approval like any other, audited, its evidence kept), and
 * keeps `sluice_promotion_held` at 1 for each package its ring's failures hold, so the
 * SluicePromotionHeld alert names it. A failure in one round is logged and the next round
 * tries again; nothing here can stop the node.
 */
export class PromotionGates {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private held = new Set<string>();
  private closed = false;

  constructor(
    private readonly d: {
      readonly catalog: CatalogLog;
      readonly writer: CatalogWriter;
      readonly topology: Topology;
      readonly reports: () => Readonly<Record<string, SiteSummary>>;
      readonly log: PromotionLog;
      readonly audit: AuditLog;
      readonly metrics: Metrics;
      readonly logger: Logger;
      readonly everyMs: number;
      readonly now?: () => number;
    },
  ) {}

  start(): void {
    if (this.d.topology.promotions.size === 0) return;
    this.timer = setInterval(() => this.roundSoon(), this.d.everyMs);
    this.timer.unref();
    this.roundSoon();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
  }

  view(): PromotionsView {
    return { pending: gateVerdicts(this.d.catalog.state, this.d.topology, this.d.reports(), this.now()), decided: this.d.log.recent() };
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  /** One round at a time. */
  private roundSoon(): void {
    this.running = this.running.then(() => (this.closed ? undefined : this.round())).catch((err: unknown) => this.d.logger.error({ err: (err as Error).message }, 'a round of the promotion gates failed; the next one tries again'));
  }

  private async round(): Promise<void> {
    const verdicts = gateVerdicts(this.d.catalog.state, this.d.topology, this.d.reports(), this.now());
    this.markHeld(verdicts.filter((v) => v.state === 'held'));
    for (const v of verdicts) if (v.state === 'ready' && v.mode === 'auto' && !this.closed) await this.promote(v);
  }

  /** Approves the package for the next ring inside the writer's lock, where nothing changed meanwhile. */
  private async promote(v: GateVerdict): Promise<void> {
    const by = ruleName(v.from, v.to);
    const at = new Date(this.now()).toISOString();
    const records = await this.d.writer.append((log) => {
      const pkg = log.state.get(v.package);
      if (!pkg || !pkg.approvals.has(v.from) || !log.state.receivedBy(pkg, v.from) || pkg.withdrawnFrom.has(v.to) || approvalUnchanged(log, pkg, v.to)) return [];
      return [{ type: 'approve', id: v.package, ring: v.to, by, at } satisfies RecordBody];
    });
    const record = records[0];
    if (!record) return;
    const e = v.evidence;
    this.d.metrics.promotions.inc({ from: v.from, to: v.to });
    await this.d.log.record({ seq: record.seq, at, package: v.package, from: v.from, to: v.to, by, gate: v.gate, evidence: e });
    await this.d.audit.append({ who: by, role: 'rule', via: null, source: 'primary', act: 'approve', target: `${v.package} for ${v.to}: ${e.succeeded} of ${e.clients} ${v.from} clients succeeded, ${e.failed} failed`, outcome: 'ok' });
    this.d.logger.info({ package: v.package, from: v.from, to: v.to, clients: e.clients, succeeded: e.succeeded, failed: e.failed }, `${v.package} passed the gate of ${v.from} and is approved for ${v.to} (${by})`);
  }

  /** sluice_promotion_held{package,from,to}: 1 while held; the series goes once it is not. */
  private markHeld(held: readonly GateVerdict[]): void {
    const now = new Set(held.map((v) => `${v.package}\u0000${v.from}\u0000${v.to}`));
    for (const key of this.held) {
      if (now.has(key)) continue;
      const [pkg, from, to] = key.split('\u0000') as [string, string, string];
      this.d.metrics.promotionHeld.remove({ package: pkg, from, to });
    }
    for (const v of held) {
      if (!this.held.has(`${v.package}\u0000${v.from}\u0000${v.to}`)) this.d.logger.warn({ package: v.package, from: v.from, to: v.to }, `${v.package} is held in ${v.from}: ${v.reason}`);
      this.d.metrics.promotionHeld.set({ package: v.package, from: v.from, to: v.to }, 1);
    }
    this.held = now;
  }
}
