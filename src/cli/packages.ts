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
    .option('--new-from-feed <feed>', 'every package of this vendor feed still in state new (patch day)')
    .action(async (ids: string[], opts: { ring: string; newFromFeed?: string }, cmd: Command) => {
      if (ids.length === 0 && !opts.newFromFeed) throw new SluiceError('USAGE', 'name the packages to approve (sluice approve ID... --ring R), or --new-from-feed FEED');
      const client = clientFor(cmd);
      if (opts.newFromFeed) {
        const { packages } = await client.getJson<{ packages: PackageJson[] }>(PATHS.packages);
        ids = [...ids, ...packages.filter((p) => p.feed === opts.newFromFeed && p.state === 'new').map((p) => p.id)];
        if (ids.length === 0) return void process.stdout.write(`nothing to approve: no package of feed ${opts.newFromFeed} is in state new\n`);
      }
      if (ids.length === 1 && !opts.newFromFeed) {
        const pkg = await client.postJson<PackageJson>(approvePath(ids[0]!), { ring: opts.ring });
        if (globalOptions(cmd).json) return printJson(pkg);
        return void process.stdout.write(`${pkg.id}: ${stateText(pkg)}\n`);
      }
      const result = await client.postJson<{ ring: string; approved: string[]; unchanged: number }>(PATHS.approvals, { ids, ring: opts.ring });
      if (globalOptions(cmd).json) return printJson(result);
      process.stdout.write(`approved for ${result.ring}: ${result.approved.length ? result.approved.join(', ') : 'nothing new'}${result.unchanged ? ` (${result.unchanged} already approved)` : ''}\n`);
    });

  common(program.command('decline'), { server: true, json: true })
    .description('decline a package: it replicates nowhere; an approver for its rings, or admin')
    .argument('<id>', 'package id, name@version')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const pkg = await clientFor(cmd).postJson<PackageJson>(declinePath(id), {});
      if (globalOptions(cmd).json) return printJson(pkg);
      process.stdout.write(`${pkg.id}: ${stateText(pkg)}\n`);
    });

  common(program.command('packages'), { server: true, json: true })
    .description('the catalog with each package\'s state')
    .action(async (_opts: unknown, cmd: Command) => {
      const res = await clientFor(cmd).getJson<{ seq: number; packages: PackageJson[] }>(PATHS.packages);
      if (globalOptions(cmd).json) return printJson(res);
      if (res.packages.length === 0) {
        process.stdout.write(`no packages (catalog seq ${res.seq}); publish one with: sluice publish FILE --name NAME --version V\n`);
        return;
      }
      const rows = res.packages.map((p) => [p.id, p.severity, stateText(p), formatBytes(p.files.reduce((n, f) => n + f.size, 0)), `${p.published.at.slice(0, 16).replace('T', ' ')} by ${p.published.by}`]);
      const head = ['PACKAGE', 'SEVERITY', 'STATE', 'SIZE', 'PUBLISHED'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
      process.stdout.write(`\ncatalog seq ${res.seq}\n`);
    });
}

function stateText(p: PackageJson): string {
  if (p.state === 'approved') return `approved(${p.rings.join(',')})`;
  if (p.state === 'superseded') return `superseded by ${p.supersededBy}`;
  return p.state;
}
