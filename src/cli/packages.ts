import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { PATHS, approvePath, declinePath } from '../protocol/paths.js';
import type { packageJson } from '../catalog/decisions.js';
import { SluiceError, describeFsError } from '../errors.js';
import { common, clientFor, globalOptions, printJson } from './context.js';
import { multipartBody } from './multipart.js';
import { byteProgress } from './progress.js';
import { formatBytes } from '../topology/units.js';

type PackageJson = ReturnType<typeof packageJson>;

/** publish, approve, decline, packages: the administrator's commands. */
export function registerPackageCommands(program: Command): void {
  common(program.command('publish'), { server: true, json: true })
    .description('stream files to the primary and record them as one package')
    .argument('<file...>', 'files of the package')
    .requiredOption('--name <name>', 'package name')
    .requiredOption('--version <version>', 'package version')
    .option('--platform <platform>', 'platform of the files, e.g. linux-x64')
    .option('--language <language>', 'language of the files, e.g. fr')
    .option('--severity <severity>', 'critical | important | moderate | low', 'moderate')
    .option('--classification <classification>', 'e.g. security, feature, driver')
    .option('--supersedes <id>', 'the package (name@version) this one replaces')
    .action(async (files: string[], opts: Record<string, string | undefined>, cmd: Command) => {
      const client = clientFor(cmd);
      const entries = files.map((f) => {
        try {
          const st = statSync(f);
          if (!st.isFile()) throw new Error('not a regular file');
          return { path: f, size: st.size };
        } catch (err) {
          throw new SluiceError('FILE_NOT_READABLE', `cannot publish ${f}: ${describeFsError(err)}`);
        }
      });
      const meta = { name: opts.name, version: opts.version, severity: opts.severity, classification: opts.classification, platform: opts.platform, language: opts.language, supersedes: opts.supersedes };
      const total = entries.reduce((n, e) => n + e.size, 0);
      const progress = byteProgress(`publish ${opts.name}@${opts.version}`, total);
      const mp = multipartBody(meta, entries, (n) => progress.add(n));
      let pkg: PackageJson;
      try {
        pkg = await client.postStream<PackageJson>(PATHS.packages, mp.body, mp.contentType, mp.length);
      } finally {
        progress.stop();
      }
      if (globalOptions(cmd).json) return printJson(pkg);
      process.stdout.write(`published ${pkg.id} (${pkg.files.length} file${pkg.files.length === 1 ? '' : 's'}, ${formatBytes(total)}); approve it with: sluice approve ${pkg.id} --ring RING\n`);
      for (const f of pkg.files) process.stdout.write(`  ${f.sha256}  ${f.name}\n`);
    });

  common(program.command('approve'), { server: true, json: true })
    .description('approve packages for a ring ("all" by default); several at once are approved together or not at all; an approver for that ring, or admin')
    .argument('[ids...]', 'package ids, name@version')
    .option('--ring <ring>', 'ring to approve for', 'all')
    .option('--new-from-feed <feed>', 'every package of this vendor feed the ring does not have yet, the newest version of each name (patch day)')
    .option('--source <name@version>', "every binary built from this source version (a Debian security fix's unit), in one signed append")
    .option('--advisory <id>', "every package an RPM feed's advisory names (RHSA-2024:1234, FEDORA-2024-…), in one signed append")
    .option('--feed <feed>', 'with --source or --advisory: only that feed\'s packages')
    .option('--dry-run', 'say what would be approved and which dependencies it would leave unmet, without approving')
    .action(async (ids: string[], opts: { ring: string; newFromFeed?: string; source?: string; advisory?: string; feed?: string; dryRun?: boolean }, cmd: Command) => {
      if (ids.length === 0 && !opts.newFromFeed && !opts.source && !opts.advisory) throw new SluiceError('USAGE', 'name the packages to approve (sluice approve ID... --ring R), --source NAME@VERSION, --advisory ID, or --new-from-feed FEED');
      const client = clientFor(cmd);
      if (opts.advisory) {
        if (ids.length || opts.newFromFeed || opts.source) throw new SluiceError('USAGE', '--advisory approves every package of one advisory: name no ids, no --source and no --new-from-feed with it');
        const result = await client.postJson<ApprovalsResult>(PATHS.approvals, { advisory: opts.advisory, ring: opts.ring, ...(opts.feed ? { feed: opts.feed } : {}), ...(opts.dryRun ? { dryRun: true } : {}) });
        return printApprovals(cmd, result, new Set(), opts.dryRun === true);
      }
      if (opts.source) {
        if (ids.length || opts.newFromFeed) throw new SluiceError('USAGE', '--source approves every binary of one source version: name no ids and no --new-from-feed with it');
        if (!/^[^@\s]+@[^@\s]+$/.test(opts.source)) throw new SluiceError('USAGE', `--source ${opts.source}: expected NAME@VERSION, the source version to approve (sluice packages --source ${opts.source.split('@')[0]} lists its versions); --dry-run shows what it would approve`);
        const result = await client.postJson<ApprovalsResult>(PATHS.approvals, { source: opts.source, ring: opts.ring, ...(opts.feed ? { feed: opts.feed } : {}), ...(opts.dryRun ? { dryRun: true } : {}) });
        return printApprovals(cmd, result, new Set(), opts.dryRun === true);
      }
      const named = new Set(ids);
      if (opts.newFromFeed) {
        const { packages } = await client.getJson<{ packages: PackageJson[] }>(PATHS.packages);
        // Not yet approved for the ring (or all), not declined, not superseded everywhere: the
        // server leaves out a version whose successor is approved with it, and says so.
        const fresh = packages.filter((p) => p.feed === opts.newFromFeed && !p.declined && p.state !== 'superseded' && !p.rings.includes(opts.ring) && !p.rings.includes('all'));
        ids = [...ids, ...fresh.map((p) => p.id)];
        if (ids.length === 0) return void process.stdout.write(`nothing to approve: every package of feed ${opts.newFromFeed} is approved for ${opts.ring}, superseded or declined\n`);
      }
      if (ids.length === 1 && !opts.newFromFeed && !opts.dryRun) {
        const pkg = await client.postJson<PackageJson & { warnings?: { message: string }[] }>(approvePath(ids[0]!), { ring: opts.ring });
        if (globalOptions(cmd).json) return printJson(pkg);
        process.stdout.write(`${pkg.id}: ${stateText(pkg)}\n`);
        for (const w of pkg.warnings ?? []) process.stderr.write(`warning: ${w.message}\n`);
        return;
      }
      const result = await client.postJson<ApprovalsResult>(PATHS.approvals, { ids, ring: opts.ring, ...(opts.dryRun ? { dryRun: true } : {}) });
      printApprovals(cmd, result, named, opts.dryRun === true);
    });

  common(program.command('decline'), { server: true, json: true })
    .description('decline a package: it replicates nowhere (an approver for every ring it is approved for, or admin); with --ring, withdraw that ring\'s approval only (an approver for that ring): the ring falls back to the newest version still approved for it')
    .argument('<id>', 'package id, name@version')
    .option('--ring <ring>', 'withdraw only this ring\'s approval; every other ring keeps what it has')
    .action(async (id: string, opts: { ring?: string }, cmd: Command) => {
      const pkg = await clientFor(cmd).postJson<PackageJson>(declinePath(id), opts.ring === undefined ? {} : { ring: opts.ring });
      if (globalOptions(cmd).json) return printJson(pkg);
      process.stdout.write(`${pkg.id}: ${stateText(pkg)}${opts.ring ? ` (withdrawn from ${opts.ring})` : ''}\n`);
    });

  common(program.command('packages'), { server: true, json: true })
    .description('the catalog with each package\'s state; filtered on the node (--state, --feed, --source, --name, --ring, --advisory), a page at a time')
    .option('--state <state>', 'new, approved, declined or superseded')
    .option('--feed <feed>', 'a vendor feed\'s packages ("-": those published by people)')
    .option('--source <source>', 'binaries built from a source package: NAME, or NAME@VERSION')
    .option('--name <name>', 'every version of one package name')
    .option('--ring <ring>', 'packages approved for this ring (or all)')
    .option('--advisory <id>', "the packages an RPM feed's advisory names (asked of the primary, where advisories are kept)")
    .action(async (opts: { state?: string; feed?: string; source?: string; name?: string; ring?: string; advisory?: string }, cmd: Command) => {
      const client = clientFor(cmd);
      const filters = Object.entries(opts).filter(([, v]) => v !== undefined) as [string, string][];
      let res: { seq: number; packages: PackageJson[]; total?: number };
      if (filters.length === 0) res = await client.getJson(PATHS.packages);
      else {
        // Page after page (1,000 at a time): the node filters, the answer stays small.
        const packages: PackageJson[] = [];
        let after = 0;
        let page: { seq: number; total: number; packages: PackageJson[]; next: number | null };
        do {
          page = await client.getJson(`${PATHS.packages}?${new URLSearchParams([...filters, ['limit', '1000'], ['after', String(after)]])}`);
          packages.push(...page.packages);
          after = page.next ?? 0;
        } while (page.next !== null);
        res = { seq: page.seq, total: page.total, packages };
      }
      if (globalOptions(cmd).json) return printJson(res);
      if (res.packages.length === 0) {
        process.stdout.write(filters.length ? `no package matches (catalog seq ${res.seq})\n` : `no packages (catalog seq ${res.seq}); publish one with: sluice publish FILE --name NAME --version V\n`);
        return;
      }
      const rows = res.packages.map((p) => [p.id, p.severity, stateText(p), formatBytes(p.files.reduce((n, f) => n + f.size, 0)), `${p.published.at.slice(0, 16).replace('T', ' ')} by ${p.published.by}`]);
      const head = ['PACKAGE', 'SEVERITY', 'STATE', 'SIZE', 'PUBLISHED'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
      process.stdout.write(`\ncatalog seq ${res.seq}\n`);
    });
}

interface ApprovalsResult {
  ring: string;
  approved: string[];
  wouldApprove?: string[];
  unchanged: number;
  unchangedIds?: { id: string; code: string; message: string }[];
  warnings?: { message: string }[];
}

/**
 * What a bulk approval did. An id the person named that changed nothing is a failure (exit
 * 1), never a silent 0; one gathered by --new-from-feed or --source and replaced by a newer
 * one approved with it is not. Unmet dependencies are warnings on stderr.
 */
function printApprovals(cmd: Command, result: ApprovalsResult, named: ReadonlySet<string>, dryRun: boolean): void {
  const refused = (result.unchangedIds ?? []).filter((u) => named.has(u.id));
  const done = dryRun ? (result.wouldApprove ?? []) : result.approved;
  if (globalOptions(cmd).json) printJson(result);
  else {
    process.stdout.write(`${dryRun ? 'would approve' : 'approved'} for ${result.ring}: ${done.length ? done.join(', ') : 'nothing'}\n`);
    for (const u of result.unchangedIds ?? []) process.stdout.write(`  not approved: ${u.id}: ${u.code}: ${u.message}\n`);
    for (const w of result.warnings ?? []) process.stderr.write(`warning: ${w.message}\n`);
  }
  if (refused.length || done.length === 0) process.exitCode = 1;
}

/** `approved(pilot)`, `approved(broad; pilot: superseded by X)`, `superseded by X`, `new`, `declined`. */
function stateText(p: PackageJson): string {
  const live = p.approvals.filter((a) => !a.supersededBy).map((a) => a.ring);
  const replaced = p.approvals.filter((a) => a.supersededBy).map((a) => `${a.ring}: superseded by ${a.supersededBy}`);
  if (p.state === 'approved') return `approved(${[live.join(','), ...replaced].join('; ')})`;
  if (p.state === 'superseded') return `superseded by ${p.approvals.find((a) => a.supersededBy)?.supersededBy ?? p.supersededBy}`;
  return p.state;
}
