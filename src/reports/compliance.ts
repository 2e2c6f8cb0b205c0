import type { CatalogState } from '../catalog/catalog-state.js';
import { REPORT_STATUSES, type ReportStatus } from '../domain/report-statuses.js';
import { SEVERITIES, type Severity } from '../domain/severity.js';
import type { Topology } from '../topology/types.js';
import type { SiteSummary } from './report-store.js';

/** Outcomes that count as compliant: installed, installed pending reboot, or not needed. */
export const COMPLIANT_STATUSES: readonly ReportStatus[] = ['succeeded', 'succeeded-reboot', 'not-applicable'];

/** One approved package at one site where it applies (one of the site's rings receives it). */
export interface ComplianceRow {
  package: string;
  severity: Severity;
  site: string;
  /** Endpoints known at the site (those that reported anything). */
  clients: number;
  counts: Record<ReportStatus, number>;
  /** Endpoints known at the site that sent nothing for this package. */
  notReported: number;
  /** Compliant endpoints in percent (one decimal, rounded down); null when the site has no endpoints. */
  compliantPercent: number | null;
  /** First approval for a ring of this site plus the severity's deadline. */
  deadline: string;
  pastDeadline: boolean;
}

/**
 * Compliance of every approved package at every site of a subtree. A site outside all of a
 * package's rings is not applicable and has no row (it will never receive the package); a
 * site without endpoints has a row without a percentage, never a 100% nobody earned.
 */
export function complianceRows(
  catalog: CatalogState,
  topology: Topology,
  sites: Readonly<Record<string, SiteSummary>>,
  now = Date.now(),
  only: { package?: string; site?: string } = {},
): ComplianceRow[] {
  const rows: ComplianceRow[] = [];
  for (const pkg of catalog.approved()) {
    if (catalog.stateOf(pkg) !== 'approved' || (only.package && pkg.id !== only.package)) continue;
    for (const [site, summary] of Object.entries(sites)) {
      if (only.site && site !== only.site) continue;
      const rings = topology.nodes.get(site)?.rings ?? [];
      // Applies where one of the site's rings receives it: approved for it (or all), not
      // replaced there by a successor approved for that ring.
      if (!catalog.isWantedBy(pkg, rings)) continue;
      const counts = Object.fromEntries(REPORT_STATUSES.map((s) => [s, summary.packages[pkg.id]?.[s] ?? 0])) as Record<ReportStatus, number>;
      const reported = REPORT_STATUSES.reduce((n, s) => n + counts[s], 0);
      const compliant = COMPLIANT_STATUSES.reduce((n, s) => n + counts[s], 0);
      const percent = summary.clients > 0 ? Math.floor((compliant / summary.clients) * 1000) / 10 : null;
      const deadline = (catalog.approvedAtMs(pkg, rings) ?? now) + topology.deadlinesMs[pkg.severity];
      rows.push({
        package: pkg.id,
        severity: pkg.severity,
        site,
        clients: summary.clients,
        counts,
        notReported: Math.max(0, summary.clients - reported),
        compliantPercent: percent,
        deadline: new Date(deadline).toISOString(),
        pastDeadline: now > deadline && percent !== null && percent < 100,
      });
    }
  }
  return rows;
}

/** Compliant installs over endpoints, per severity, over the rows that have endpoints; null where none. */
export function complianceBySeverity(rows: readonly ComplianceRow[]): Record<Severity, number | null> {
  const totals = new Map<Severity, { ok: number; all: number }>();
  for (const r of rows) {
    if (r.clients === 0) continue;
    const t = totals.get(r.severity) ?? { ok: 0, all: 0 };
    t.ok += COMPLIANT_STATUSES.reduce((n, s) => n + r.counts[s], 0);
    t.all += r.clients;
    totals.set(r.severity, t);
  }
  const out = {} as Record<Severity, number | null>;
  for (const severity of SEVERITIES) {
    const t = totals.get(severity);
    out[severity] = t ? t.ok / t.all : null;
  }
  return out;
}
