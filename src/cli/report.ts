import type { Command } from 'commander';
import type { ComplianceRow } from '../reports/compliance.js';
import type { SiteSummary } from '../reports/report-store.js';
import { REPORT_STATUSES } from '../domain/report-statuses.js';
import { SluiceError } from '../errors.js';
import { clientFor, common, globalOptions, printJson, topologyOf } from './context.js';

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
      const query = new URLSearchParams({ ...(opts.package ? { package: opts.package } : {}), ...(opts.node ? { site: opts.node } : {}) }).toString();
      const { sites, compliance: rows } = await client.getJson<{ sites: Record<string, SiteSummary>; compliance: ComplianceRow[] }>(`v1/reports${query ? `?${query}` : ''}`);
      const failures: { site: string; clientId: string; package: string; error: string | null; at: string }[] = [];
      for (const r of rows) failures.push(...(sites[r.site]?.failures ?? []).filter((f) => f.package === r.package).map((f) => ({ site: r.site, ...f })));
      const late = rows.filter((r) => r.pastDeadline);
      if (globalOptions(cmd).json) return printJson({ at: new Date().toISOString(), rows, failures, late: late.map((r) => ({ package: r.package, site: r.site, compliantPercent: r.compliantPercent, deadline: r.deadline })) });
      const head = ['PACKAGE', 'SITE', 'CLIENTS', ...REPORT_STATUSES.map((s) => s.toUpperCase()), 'NOT REPORTED', 'COMPLIANT'];
      const table = rows.map((r) => [r.package, r.site, String(r.clients), ...REPORT_STATUSES.map((s) => String(r.counts[s])), String(r.notReported), r.compliantPercent === null ? 'no endpoints' : `${r.compliantPercent}%`]);
      const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
      for (const r of [head, ...table]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
      if (failures.length) {
        process.stdout.write('\nfailed endpoints (last error):\n');
        for (const f of failures) process.stdout.write(`  ${f.site}/${f.clientId}  ${f.package}  ${f.at.slice(0, 16).replace('T', ' ')}Z  ${f.error ?? ''}\n`);
      }
      if (late.length) {
        process.stdout.write('\npast deadline and not fully compliant:\n');
        for (const r of late) process.stdout.write(`  ${r.package} at ${r.site}: ${r.compliantPercent}% (due ${r.deadline.slice(0, 16).replace('T', ' ')}Z)\n`);
      }
    });
}
