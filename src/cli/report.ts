import type { Command } from 'commander';
import { escapeUnprintable } from '../domain/printable.js';
import type { ComplianceRow } from '../reports/compliance.js';
import type { SiteSummary } from '../reports/report-store.js';
import { REPORT_STATUSES } from '../domain/report-statuses.js';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError, describeFsError } from '../errors.js';
import { clientFor, common, globalOptions, printJson, topologyOf } from './context.js';
import { PATHS } from '../protocol/paths.js';

/** `sluice report`: compliance per package and site, failures, and what is late. */
export function registerReport(program: Command): void {
  common(program.command('report'), { server: true, json: true })
    .description('install compliance at the primary: per package and site, counts by status, % compliant, failed endpoints, late packages')
    .option('--package <id>', 'only this package')
    .option('--node <name>', 'only this site (with --export: the node whose figures to write)')
    .option('--export <file>', 'at a site without a link: write the figures of --node and its subtree to FILE, for a disk')
    .option('--import <file>', 'at head office (or any node above the site): take a file written by --export')
    .action(async (opts: { package?: string; node?: string; export?: string; import?: string }, cmd: Command) => {
      const topology = topologyOf(cmd);
      if (opts.node && !topology.nodes.has(opts.node)) throw new SluiceError('UNKNOWN_NODE', `--node ${opts.node}: no such node; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
      if (opts.export) {
        if (!opts.node) throw new SluiceError('USAGE', '--export needs --node NAME: the site whose endpoints\' figures to write');
        const { sites } = await clientFor(cmd, process.env, opts.node).getJson<{ sites: Record<string, SiteSummary> }>(PATHS.reports);
        const file = { format: 1, node: opts.node, exportedAt: new Date().toISOString(), sites };
        await writeFile(`${opts.export}.tmp`, JSON.stringify(file));
        await rename(`${opts.export}.tmp`, opts.export);
        if (globalOptions(cmd).json) return printJson({ file: opts.export, node: opts.node, sites: Object.keys(sites).length });
        process.stdout.write(`${opts.export}: figures of ${Object.keys(sites).length} site(s) below and at ${opts.node}; carry it to head office and run "sluice report --import ${path.basename(opts.export)}" there\n`);
        return;
      }
      if (opts.import) {
        let body: unknown;
        try {
          body = JSON.parse(await readFile(opts.import, 'utf8'));
        } catch (err) {
          throw new SluiceError('FILE_NOT_READABLE', `cannot read ${opts.import}: ${err instanceof SyntaxError ? 'not JSON (truncated or altered?)' : describeFsError(err)}`);
        }
        const took = await clientFor(cmd).postJson<{ node: string; sites: number; exportedAt: string }>(PATHS.reportsImport, body);
        if (globalOptions(cmd).json) return printJson(took);
        process.stdout.write(`figures of ${took.sites} site(s) at and below ${took.node}, as of ${took.exportedAt}, taken\n`);
        return;
      }
      const client = clientFor(cmd);
      const query = new URLSearchParams({ ...(opts.package ? { package: opts.package } : {}), ...(opts.node ? { site: opts.node } : {}) }).toString();
      const { sites, compliance: rows } = await client.getJson<{ sites: Record<string, SiteSummary>; compliance: ComplianceRow[] }>(`${PATHS.reports}${query ? `?${query}` : ''}`);
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
        for (const f of failures) process.stdout.write(`  ${escapeUnprintable(`${f.site}/${f.clientId}  ${f.package}  ${f.at.slice(0, 16).replace('T', ' ')}Z  ${f.error ?? ''}`)}\n`);
      }
      if (late.length) {
        process.stdout.write('\npast deadline and not fully compliant:\n');
        for (const r of late) process.stdout.write(`  ${r.package} at ${r.site}: ${r.compliantPercent}% (due ${r.deadline.slice(0, 16).replace('T', ' ')}Z)\n`);
      }
    });
}
