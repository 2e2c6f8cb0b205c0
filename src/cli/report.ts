import type { Command } from 'commander';
import type { packageJson } from '../catalog/decisions.js';
import type { SiteSummary } from '../reports/report-store.js';
import { REPORT_STATUSES } from '../domain/report-statuses.js';
import { SluiceError } from '../errors.js';
import { clientFor, common, globalOptions, printJson, topologyOf } from './context.js';

type PackageJson = ReturnType<typeof packageJson>;
const COMPLIANT = ['succeeded', 'succeeded-reboot', 'not-applicable'] as const;

export interface ComplianceRow {
  package: string;
  severity: string;
  site: string;
  counts: Record<string, number>;
  /** Endpoints known at the site that sent nothing for this package. */
  notReported: number;
  clients: number;
  compliantPercent: number;
  deadline: string | null;
  pastDeadline: boolean;
}

/** `sluice report`: compliance per package and site, failures, and what is late. */
export function registerReport(program: Command): void {
  common(program.command('report'), { server: true, json: true })
    .description('install compliance at the primary: per package and site, counts by status, % compliant, failed endpoints, late packages')
    .option('--package <id>', 'only this package')
    .option('--node <name>', 'only this site')
    .action(async (opts: { package?: string; node?: string }, cmd: Command) => {
      const topology = topologyOf(cmd);
      if (opts.node && !topology.nodes.has(opts.node)) throw new SluiceError('UNKNOWN_NODE', `--node ${opts.node}: no such node; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
      const client = clientFor(cmd);
      const [{ sites }, { packages }] = await Promise.all([
        client.getJson<{ sites: Record<string, SiteSummary> }>('v1/reports'),
        client.getJson<{ packages: PackageJson[] }>('v1/packages'),
      ]);
      const rows: ComplianceRow[] = [];
      const failures: { site: string; clientId: string; package: string; error: string | null; at: string }[] = [];
      const now = Date.now();
      for (const pkg of packages) {
        if (pkg.state !== 'approved' || (opts.package && pkg.id !== opts.package)) continue;
        const approvedAt = Math.min(...pkg.approvals.map((a) => Date.parse(a.at)));
        const deadline = approvedAt + topology.deadlinesMs[pkg.severity];
        for (const [site, summary] of Object.entries(sites)) {
          if (opts.node && site !== opts.node) continue;
          const counts = Object.fromEntries(REPORT_STATUSES.map((s) => [s, summary.packages[pkg.id]?.[s] ?? 0]));
          const reported = Object.values(counts).reduce((a, b) => a + b, 0);
          const compliant = COMPLIANT.reduce((n, s) => n + counts[s]!, 0);
          const pct = summary.clients ? Math.floor((compliant / summary.clients) * 1000) / 10 : 100;
          rows.push({ package: pkg.id, severity: pkg.severity, site, counts, notReported: summary.clients - reported, clients: summary.clients, compliantPercent: pct, deadline: new Date(deadline).toISOString(), pastDeadline: now > deadline && pct < 100 });
          failures.push(...summary.failures.filter((f) => f.package === pkg.id).map((f) => ({ site, ...f })));
        }
      }
      const late = rows.filter((r) => r.pastDeadline);
      if (globalOptions(cmd).json) return printJson({ at: new Date().toISOString(), rows, failures, late: late.map((r) => ({ package: r.package, site: r.site, compliantPercent: r.compliantPercent, deadline: r.deadline })) });
      const head = ['PACKAGE', 'SITE', 'CLIENTS', ...REPORT_STATUSES.map((s) => s.toUpperCase()), 'NOT REPORTED', 'COMPLIANT'];
      const table = rows.map((r) => [r.package, r.site, String(r.clients), ...REPORT_STATUSES.map((s) => String(r.counts[s])), String(r.notReported), `${r.compliantPercent}%`]);
      const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
      for (const r of [head, ...table]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
      if (failures.length) {
        process.stdout.write('\nfailed endpoints (last error):\n');
        for (const f of failures) process.stdout.write(`  ${f.site}/${f.clientId}  ${f.package}  ${f.at.slice(0, 16).replace('T', ' ')}Z  ${f.error ?? ''}\n`);
      }
      if (late.length) {
        process.stdout.write('\npast deadline and not fully compliant:\n');
        for (const r of late) process.stdout.write(`  ${r.package} at ${r.site}: ${r.compliantPercent}% (due ${r.deadline!.slice(0, 16).replace('T', ' ')}Z)\n`);
      }
    });
}
