import type { Command } from 'commander';
import { formatBytes } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson } from './context.js';
import { rateText, type StatusJson } from './render-status.js';

interface PlanRow {
  node: string;
  upstream: string | null;
  pendingBlobs: number;
  pendingBytes: number;
  rate: string | null;
  /** When the node should hold every approved package: its own forecast, never before its upstream's. */
  doneAt: string | null;
  late: { id: string; severity: string; deadline: string; eta: string | null }[];
  reported: boolean;
}

/**
 * `sluice plan`: from the backlog each node reports, its schedule and its critical lane,
 * when each node is expected to hold every approved package, and which packages will miss
 * their severity deadline (policy.deadlines). A node cannot finish before its upstream.
 */
export function registerPlan(program: Command): void {
  common(program.command('plan'), { server: true, json: true })
    .description('forecast when each node will hold every approved package, and which will miss their deadline')
    .action(async (_opts: unknown, cmd: Command) => {
      const root = await clientFor(cmd).getJson<StatusJson>('v1/status');
      const rows = planRows(root);
      const late = rows.flatMap((r) => r.late.map((l) => ({ node: r.node, ...l })));
      // Something will miss its deadline: a failure for scripts and alerts, in either format.
      if (late.length) process.exitCode = 1;
      if (globalOptions(cmd).json) return printJson({ at: new Date().toISOString(), nodes: rows });
      const head = ['NODE', 'PENDING', 'RATE NOW', 'ALL HERE BY', 'LATE'];
      const table = rows.map((r) => [
        r.node,
        r.reported ? `${r.pendingBlobs} blobs ${formatBytes(r.pendingBytes)}` : 'no report',
        r.rate ?? '-',
        !r.reported ? '?' : r.pendingBlobs === 0 && !r.doneAt ? 'now' : r.doneAt ? r.doneAt.slice(0, 16).replace('T', ' ') + 'Z' : 'not within 400 days',
        String(r.late.length),
      ]);
      const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
      for (const r of [head, ...table]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
      if (late.length) {
        process.stdout.write('\nwill miss their deadline:\n');
        for (const l of late) process.stdout.write(`  ${l.node}: ${l.id} (${l.severity}) due ${l.deadline.slice(0, 16).replace('T', ' ')}Z, expected ${l.eta ? `${l.eta.slice(0, 16).replace('T', ' ')}Z` : 'not within 400 days'}\n`);
      }
    });
}

export function planRows(root: StatusJson): PlanRow[] {
  const rows: PlanRow[] = [];
  const walk = (name: string, s: StatusJson | null, upstream: PlanRow | null) => {
    if (!s) {
      rows.push({ node: name, upstream: upstream?.node ?? null, pendingBlobs: 0, pendingBytes: 0, rate: null, doneAt: null, late: [], reported: false });
      return;
    }
    const own = s.forecast?.doneAt ?? null;
    const pending = s.pending.blobs > 0;
    // Waiting on the upstream: not done before it is.
    let doneAt = pending ? own : null;
    if (pending && own && upstream?.doneAt && upstream.doneAt > own) doneAt = upstream.doneAt;
    if (pending && upstream && upstream.pendingBlobs > 0 && upstream.doneAt === null && upstream.reported) doneAt = null;
    const row: PlanRow = {
      node: s.node,
      upstream: upstream?.node ?? null,
      pendingBlobs: s.pending.blobs,
      pendingBytes: s.pending.bytes,
      rate: s.rate ? rateText(s.rate) : s.primary ? 'source' : null,
      doneAt,
      late: s.forecast?.late ?? [],
      reported: true,
    };
    rows.push(row);
    for (const [kid, ks] of Object.entries(s.children ?? {})) walk(kid, ks, row);
  };
  walk(root.node, root, null);
  return rows;
}
