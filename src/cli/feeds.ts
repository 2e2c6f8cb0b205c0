import type { Command } from 'commander';
import { PATHS, feedSyncPath } from '../protocol/paths.js';
import { clientFor, common, globalOptions, printJson } from './context.js';

interface FeedRow {
  name: string;
  url: string;
  suites: string[];
  repos?: Record<string, string> | null;
  catalogued: number;
  syncing: boolean;
  lastSuccess: string | null;
  last: { at: string; ok: boolean; added: number; listed: number; error: { code: string; message: string } | null; validUntil: string | null } | null;
}

interface SyncResult {
  feed: string;
  added: number;
  listed: number;
  validUntil: string | null;
}

/**
 * `sluice feeds`: the vendor repositories the primary follows, with each one's last sync;
 * `sluice feeds sync [NAME...]`: sync now (every feed without names) and say what was added.
 */
export function registerFeeds(program: Command): void {
  const feeds = program.command('feeds').description('the vendor feeds the primary follows: list them (the default), sync them now');
  common(feeds.command('list', { isDefault: true }), { server: true, json: true })
    .description('list the vendor feeds the primary follows (publisher or admin): last success, last result, packages catalogued; exit 1 when a feed\'s last sync failed')
    .action(async (_opts: unknown, cmd: Command) => {
      const { feeds: rows } = await clientFor(cmd).getJson<{ feeds: FeedRow[] }>(PATHS.feeds);
      if (globalOptions(cmd).json) printJson(rows);
      else if (rows.length === 0) process.stdout.write('no feeds: add them under "feeds:" in the topology (see README, Feeds and stock clients)\n');
      for (const f of globalOptions(cmd).json ? [] : rows) {
        const last = f.last ? (f.last.ok ? `ok at ${f.last.at}: ${f.last.added} added of ${f.last.listed} listed` : `FAILED at ${f.last.at}: ${f.last.error?.code} ${f.last.error?.message}`) : 'not synced yet';
        process.stdout.write(`${f.name}  ${f.url} ${f.repos ? Object.keys(f.repos).join(',') : f.suites.join(',')}\n  ${f.catalogued} package version(s) in the catalog; last success ${f.lastSuccess ?? 'never'}${f.syncing ? '; syncing now' : ''}\n  last sync: ${last}${f.last?.validUntil ? `; valid until ${f.last.validUntil}` : ''}\n`);
      }
      // A monitoring script or a person running this after a change learns of a failing feed
      // from the exit status, in text and --json alike, and from stderr which one and why.
      const failed = rows.filter((f) => f.last && !f.last.ok);
      for (const f of failed) {
        process.stderr.write(`error ${f.last!.error?.code ?? 'INTERNAL'}: feed ${f.name}: its last sync, at ${f.last!.at}, failed: ${f.last!.error?.message ?? 'no reason recorded'} (last success ${f.lastSuccess ?? 'never'}); once fixed, "sluice feeds sync ${f.name}" syncs it now\n`);
      }
      if (failed.length) process.exitCode = 1;
    });
  common(feeds.command('sync'), { server: true, json: true })
    .description('sync feeds now at the primary (publisher or admin); every feed when none is named')
    .argument('[names...]', 'feeds to sync')
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const client = clientFor(cmd);
      const list = names.length ? names : (await client.getJson<{ feeds: FeedRow[] }>(PATHS.feeds)).feeds.map((f) => f.name);
      const results: SyncResult[] = [];
      for (const name of list) {
        const r = await client.postJson<SyncResult>(feedSyncPath(name).slice(1), {});
        results.push(r);
        if (!globalOptions(cmd).json) process.stdout.write(`${r.feed}: ${r.added} new package version(s) of ${r.listed} listed (state new: approve to replicate)${r.validUntil ? `; valid until ${r.validUntil}` : ''}\n`);
      }
      if (globalOptions(cmd).json) printJson(results);
    });
}
