import { z } from 'zod';
import type { Metrics } from '../metrics/metrics.js';
import type { MetaDb, Sublevel } from '../store/meta-db.js';
import { sublevels, syncBatch } from '../store/meta-db.js';
import { REPORT_STATUSES, type ReportStatus } from '../domain/report-statuses.js';

export const reportSchema = z
  .object({
    clientId: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'letters, digits, ".", "_", ":", "@" or "-", at most 128'),
    package: z.string().min(3).max(200),
    status: z.enum(REPORT_STATUSES),
    error: z.string().max(2000).optional(),
    /** The node that did not offer this package although the signed catalog approves it. */
    withheldBy: z.string().max(300).optional(),
    at: z.string().datetime(),
  })
  .strict();

export const REPORTS_PER_BATCH = 1000;
export const reportBatchSchema = z.object({ reports: z.array(reportSchema).min(1).max(REPORTS_PER_BATCH) }).strict();
export type Report = z.infer<typeof reportSchema>;
/** A report as kept: with the time it is ordered by (its own, or its arrival if that was earlier). */
type StoredReport = Report & { orderMs: number };

/** What one site's endpoints reported: per package, clients by status; recent failures. */
export interface SiteSummary {
  /** Distinct endpoints that reported anything here. */
  clients: number;
  packages: Record<string, Partial<Record<ReportStatus, number>>>;
  failures: { clientId: string; package: string; error: string | null; at: string }[];
  /** Endpoints that found a package withheld by their node and took it elsewhere. */
  withheld?: { clientId: string; package: string; by: string; at: string }[];
}

const MAX_FAILURES = 200;

/**
 * The latest report of each endpoint for each package, at the node the endpoint reports to.
 * Reports are idempotent: a repeated or older report changes nothing, a newer one replaces
 * the previous, so counts never double. Persisted in LevelDB (one synced batch per request).
 */
export class ReportStore {
  private readonly latest = new Map<string, Map<string, { status: ReportStatus; error: string | undefined; withheldBy: string | undefined; at: string; orderMs: number }>>();
  private readonly db: Sublevel;

  private constructor(
    private readonly root: MetaDb,
    private readonly metrics: Metrics,
  ) {
    this.db = sublevels(root).reports;
  }

  static async open(db: MetaDb, metrics: Metrics): Promise<ReportStore> {
    const store = new ReportStore(db, metrics);
    for await (const [, value] of store.db.iterator() as AsyncIterable<[string, StoredReport]>) store.remember(value, value.orderMs ?? Math.min(Date.parse(value.at), Date.now()));
    return store;
  }

  /**
   * Records a batch; returns how many changed something. Reports are ordered by their time
   * as numbers (string order mis-sorts mixed fractional seconds), and a time in the future
   * counts as the moment it arrived: an endpoint whose clock ran ahead cannot freeze its
   * own status, since its next honest report is still newer.
   */
  async record(reports: readonly Report[], receivedAt = Date.now()): Promise<{ accepted: number; unchanged: number }> {
    const fresh: StoredReport[] = [];
    for (const r of reports) {
      const orderMs = Math.min(Date.parse(r.at), receivedAt);
      const prev = this.latest.get(r.package)?.get(r.clientId);
      if (!prev || orderMs > prev.orderMs || (orderMs === prev.orderMs && (r.status !== prev.status || r.error !== prev.error || r.withheldBy !== prev.withheldBy))) fresh.push({ ...r, orderMs });
    }
    await syncBatch(this.root, fresh.map((r) => ({ type: 'put' as const, sublevel: this.db, key: `${r.package}\u0000${r.clientId}`, value: r })));
    for (const r of fresh) {
      this.remember(r, r.orderMs);
      this.metrics.reports.inc({ status: r.status });
    }
    return { accepted: fresh.length, unchanged: reports.length - fresh.length };
  }

  summary(): SiteSummary {
    const clients = new Set<string>();
    const packages: SiteSummary['packages'] = {};
    const failures: SiteSummary['failures'] = [];
    const withheld: NonNullable<SiteSummary['withheld']> = [];
    for (const [pkg, byClient] of this.latest) {
      const counts: Partial<Record<ReportStatus, number>> = {};
      for (const [clientId, r] of byClient) {
        clients.add(clientId);
        counts[r.status] = (counts[r.status] ?? 0) + 1;
        if (r.status === 'failed') failures.push({ clientId, package: pkg, error: r.error ?? null, at: r.at });
        if (r.withheldBy) withheld.push({ clientId, package: pkg, by: r.withheldBy, at: r.at });
      }
      packages[pkg] = counts;
    }
    failures.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
    withheld.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
    return { clients: clients.size, packages, failures: failures.slice(0, MAX_FAILURES), ...(withheld.length ? { withheld: withheld.slice(0, MAX_FAILURES) } : {}) };
  }

  private remember(r: Report, orderMs: number): void {
    let byClient = this.latest.get(r.package);
    if (!byClient) this.latest.set(r.package, (byClient = new Map()));
    byClient.set(r.clientId, { status: r.status, error: r.error, withheldBy: r.withheldBy, at: r.at, orderMs });
  }
}

export const siteSummarySchema = z.object({
  clients: z.number().int().nonnegative(),
  packages: z.record(z.record(z.number().int().nonnegative())),
  failures: z.array(z.object({ clientId: z.string(), package: z.string(), error: z.string().nullable(), at: z.string() })).max(MAX_FAILURES),
  withheld: z.array(z.object({ clientId: z.string(), package: z.string(), by: z.string(), at: z.string() })).max(MAX_FAILURES).optional(),
});
export const rollupPushSchema = z.object({ node: z.string(), nodes: z.record(siteSummarySchema) });
