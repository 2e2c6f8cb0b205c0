import type { Command } from 'commander';
import { formatBytes } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson } from './context.js';
import { allHereText, planRows, type StatusJson } from '../protocol/status-text.js';
import { PATHS } from '../protocol/paths.js';
import { promotionsFor } from './promotions.js';
import { escapeUnprintable } from '../domain/printable.js';
import { fetchRings } from './fetch-rings.js';
import { renderRingsPlan } from './render-rings.js';

/**
 * `sluice plan`: from the backlog each node reports, its schedule and its critical lane,
 * when each node is expected to hold every approved package, and which packages will miss
 * their severity deadline (policy.deadlines). A node cannot finish before its upstream.
 */
export function registerPlan(program: Command): void {
  common(program.command('plan'), { server: true, json: true })
    .description('forecast when each node will hold every approved package, and which will miss their deadline')
    .option('--by-ring', 'also per ring: each version its machines receive, held by every node of the ring or when the others should hold it (needs a token that reads reports)')
    .action(async (opts: { byRing?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const root = await client.getJson<StatusJson>(PATHS.status);
      // When each package waiting at a ring's promotion gate moves on, or why not yet.
      const promotions = await promotionsFor(client);
      const byRing = opts.byRing ? await fetchRings(client) : undefined;
      const rows = planRows(root);
      const late = rows.flatMap((r) => r.late.map((l) => ({ node: r.node, ...l })));
      // Something will miss its deadline: a failure for scripts and alerts, in either format.
      if (late.length) process.exitCode = 1;
      if (globalOptions(cmd).json) return printJson({ at: new Date().toISOString(), nodes: rows, ...(promotions ? { promotions: promotions.pending } : {}), ...(byRing ? { rings: byRing.rings } : {}) });
      const head = ['NODE', 'PENDING', 'RATE NOW', 'ALL HERE BY', 'LATE', 'AS OF'];
      const now = Date.now();
      const headSeq = rows[0]?.catalogSeq ?? null;
      const table = rows.map((r) => [
        r.node,
        r.reported ? `${r.pendingBlobs} blobs ${formatBytes(r.pendingBytes)}` : 'no report',
        r.rate ?? '-',
        allHereText(r),
        String(r.late.length),
        asOfText(r, now, headSeq),
      ]);
      const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
      for (const r of [head, ...table]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
      if (late.length) {
        process.stdout.write('\nwill miss their deadline:\n');
        for (const l of late) process.stdout.write(`  ${l.node}: ${l.id} (${l.severity}) due ${l.deadline.slice(0, 16).replace('T', ' ')}Z, expected ${l.eta ? `${l.eta.slice(0, 16).replace('T', ' ')}Z` : 'not within 400 days'}\n`);
      }
      if (promotions?.pending.length) {
        process.stdout.write('\npromotions:\n');
        for (const v of promotions.pending) process.stdout.write(`  ${escapeUnprintable(`${v.package} ${v.from} → ${v.to}: ${v.state === 'held' ? 'HELD: ' : ''}${v.reason}`)}\n`);
      }
      if (byRing) process.stdout.write(`\n${renderRingsPlan(byRing)}\n`);
    });
}


/** How old the status a row is from, and whether it predates catalog records the primary holds. */
function asOfText(r: { asOf: string | null; catalogSeq: number | null; stale: boolean }, now: number, headSeq: number | null): string {
  if (!r.asOf) return '-';
  const age = `${r.stale ? 'STALE, ' : ''}${Math.max(0, Math.round((now - Date.parse(r.asOf)) / 1000))}s ago`;
  const behind = headSeq !== null && r.catalogSeq !== null && r.catalogSeq < headSeq ? headSeq - r.catalogSeq : 0;
  return behind ? `${age}, ${behind} records behind` : age;
}
