import { REPORT_STATUSES } from '../domain/report-statuses.js';
import { COMPLIANT_STATUSES } from '../reports/compliance.js';
import type { RingEndpoints, RingNode, RingView } from '../reports/rings-view.js';

/** The JSON of GET /v1/rings, as `sluice status --by-ring --json` prints it. */
export interface RingsJson {
  node: string;
  at: string;
  catalogSeq: number;
  rings: RingView[];
}

/** `2026-12-06 10:00Z`, or what a forecast beyond its horizon means. */
const when = (iso: string | null | undefined) => (iso ? `${iso.slice(0, 16).replace('T', ' ')}Z` : 'not within 400 days');

/** `lyon holds, boston fetching, paris holds (relay)`; with `etas`, when a fetching node should hold it. */
export function nodesText(nodes: readonly RingNode[], etas = false): string {
  if (nodes.length === 0) return 'no node takes its files';
  return nodes.map((n) => `${n.node} ${n.state}${n.state === 'fetching' && etas ? `, expected ${when(n.expectedBy)}` : ''}${n.role === 'relay' ? ' (relay)' : ''}`).join(', ');
}

/** `66.6% of 3: 2 succeeded, 1 failed (lyon 2/2, paris 0/1)`, or `no endpoints`. */
export function endpointsText(e: RingEndpoints): string {
  if (e.clients === 0) return 'no endpoints';
  const parts = REPORT_STATUSES.filter((s) => e.counts[s] > 0).map((s) => `${e.counts[s]} ${s}`);
  if (e.notReported > 0) parts.push(`${e.notReported} not reported`);
  const compliant = (counts: RingEndpoints['sites'][number]['counts']) => COMPLIANT_STATUSES.reduce((n, s) => n + (counts[s] ?? 0), 0);
  const perSite = e.sites.length > 1 ? ` (${e.sites.map((s) => `${s.site} ${compliant(s.counts)}/${s.clients}`).join(', ')})` : '';
  return `${e.compliantPercent}% of ${e.clients}: ${parts.join(', ')}${perSite}`;
}

/**
 * `sluice status --by-ring`: one block per ring, a line per version its machines receive now
 * (newest first under its name), the nodes that hold it and its endpoints' outcomes there.
 */
export function renderRings(body: RingsJson): string {
  const lines: string[] = [];
  for (const r of body.rings) {
    if (lines.length) lines.push('');
    const at = r.sites.filter((s) => s.clients > 0).map((s) => `${s.site} ${s.clients}`);
    const endpoints = r.clients ? `${r.clients} endpoint${r.clients === 1 ? '' : 's'} (${at.join(', ')})` : 'no endpoints';
    lines.push(`ring ${r.ring}: nodes ${r.nodes.join(', ') || 'none'}; ${endpoints}`);
    if (r.packages.length === 0) {
      lines.push('  no package reaches this ring now');
      continue;
    }
    const table = r.packages.flatMap((p) =>
      p.versions.map((v, i) => [i === 0 ? p.name : '', v.via === r.ring ? v.version : `${v.version} (via ${v.via})`, nodesText(v.nodes), endpointsText(v.endpoints)]),
    );
    const head = ['PACKAGE', 'VERSION', 'NODES', 'ENDPOINTS'];
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
    for (const row of [head, ...table]) lines.push(`  ${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}`);
  }
  return lines.join('\n');
}

/**
 * The section `sluice plan --by-ring` adds: per ring and version, whether every node of the
 * ring holds it, and when the ones still fetching it should.
 */
export function renderRingsPlan(body: RingsJson): string {
  const lines = ['by ring:'];
  const rows: string[][] = [];
  for (const r of body.rings) {
    for (const p of r.packages) {
      for (const v of p.versions) {
        const waiting = v.nodes.filter((n) => n.state !== 'holds');
        const held = v.nodes.filter((n) => n.state === 'holds').map((n) => `${n.node}${n.role === 'relay' ? ' (relay)' : ''}`);
        const text = v.nodes.length === 0 ? 'no node takes its files' : waiting.length === 0 ? `held by every node: ${held.join(', ')}` : `${nodesText(waiting, true)}${held.length ? `; held by ${held.join(', ')}` : ''}`;
        rows.push([r.ring, v.id, text]);
      }
    }
    if (r.packages.length === 0) rows.push([r.ring, '-', 'nothing reaches it now']);
  }
  const widths = [0, 1].map((i) => Math.max(...rows.map((t) => t[i]!.length)));
  for (const row of rows) lines.push(`  ${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}`);
  return lines.join('\n');
}
