import type { NodeStatus } from '../protocol/status.js';
import { formatBytes, formatDuration, formatRateIn, rateFamilyOf } from '../topology/units.js';

/** The JSON of GET /v1/status (protocol/status.ts); a child's carries when it arrived. */
export type StatusJson = NodeStatus & { receivedAt?: string; stale?: boolean };

const BAR = 20;

function bar(fraction: number): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * BAR);
  return `[${'#'.repeat(full)}${'-'.repeat(BAR - full)}]`;
}

/** The tree `sluice status` prints: one line per node, one per transfer, its last error. */
export function renderStatus(root: StatusJson, maxTransfers = 5): string {
  const primarySeq = root.catalog.seq;
  const lines: string[] = [];
  const walk = (name: string, s: StatusJson | null, prefix: string, childPrefix: string) => {
    if (!s) {
      lines.push(`${prefix}${name}  (no report yet)`);
      return;
    }
    const parts = [`${s.node}${s.primary ? ' (primary)' : ''}`, `catalog ${s.catalog.seq}${s.catalog.seq < primarySeq ? ` (${primarySeq - s.catalog.seq} behind)` : ''}`, `store ${s.store.blobs} blobs ${formatBytes(s.store.bytes)}`];
    if (!s.primary) {
      if (s.pending.blobs === 0) parts.push('up to date');
      else parts.push(`pending ${s.pending.blobs} blobs ${formatBytes(s.pending.bytes)}, ${etaText(s)}`);
      if (s.upstream) parts.push(s.upstream.current === s.upstream.preferred ? `via ${s.upstream.current}` : `via FALLBACK ${s.upstream.current} (${s.upstream.preferred} offline)`);
    }
    if (s.rate) parts.push(`rate ${rateText(s.rate)}`);
    if (s.stale) parts.push(`STALE: last report ${s.receivedAt}`);
    lines.push(`${prefix}${parts.join('  ')}`);
    // Rates in the unit family the node's schedule is written in.
    const family = rateFamilyOf(s.rate?.window?.rate);
    for (const t of s.transfers.slice(0, maxTransfers)) {
      const pct = t.size ? Math.floor((t.offset / t.size) * 100) : 100;
      // Labelled: the node line's ETA follows the schedule; this one only extrapolates the current rate.
      const rate = t.state === 'active' && t.rateBytesPerSec > 0 ? `  ${formatRateIn(t.rateBytesPerSec, family)}, ${formatDuration(((t.size - t.offset) / t.rateBytesPerSec) * 1000)} at this rate` : '';
      const err = t.state === 'waiting' && t.lastError ? `  retrying: ${t.lastError.code}` : '';
      lines.push(`${childPrefix}  ${t.state.padEnd(9)} ${t.packages.join(',')} ${bar(t.offset / (t.size || 1))} ${pct}% ${formatBytes(t.offset)}/${formatBytes(t.size)}${rate}${err}`);
    }
    if (s.transfers.length > maxTransfers) lines.push(`${childPrefix}  … ${s.transfers.length - maxTransfers} more transfers`);
    for (const late of s.forecast?.late ?? []) lines.push(`${childPrefix}  LATE ${late.id} (${late.severity}): deadline ${late.deadline.slice(0, 16)}, expected ${late.eta ? late.eta.slice(0, 16) : 'not within 400 days'}`);
    if (s.lastError) lines.push(`${childPrefix}  ${errorText(s.lastError)}`);
    const kids = Object.entries(s.children ?? {});
    kids.forEach(([kid, ks], i) => {
      const last = i === kids.length - 1;
      walk(kid, ks, `${childPrefix}${last ? '└── ' : '├── '}`, `${childPrefix}${last ? '    ' : '│   '}`);
    });
  };
  walk(root.node, root, '', '');
  return lines.join('\n');
}

/** The schedule-aware forecast when the node sent one (labelled so), else remaining bytes over current speed. */
export function etaText(s: StatusJson, now = Date.now()): string {
  if (s.forecast) {
    if (s.forecast.doneAt === null) return 'eta: not within 400 days at this schedule';
    return `eta ${formatDuration(Math.max(0, Date.parse(s.forecast.doneAt) - now))} with the schedule`;
  }
  const rate = s.transfers.reduce((n, t) => n + (t.state === 'active' ? t.rateBytesPerSec : 0), 0);
  return rate > 0 ? `eta ${formatDuration((s.pending.bytes / rate) * 1000)} at this rate` : 'eta unknown';
}

/** The limit as the topology wrote it and the window by its text: `4Mbit/s (mon-fri 08:00-19:00 4Mbit/s, until …)`. */
export function rateText(rate: NonNullable<StatusJson['rate']>): string {
  const bg = rate.background;
  if (bg) {
    const delay = bg.delayMs !== null && bg.baseDelayMs !== null ? `, path delay ${Math.round(bg.delayMs)} ms (base ${Math.round(bg.baseDelayMs)} ms)` : '';
    return `background ${formatRateIn(bg.rateBytesPerSec, rateFamilyOf(rate.window?.rate))} now: ${bg.reason}${delay} (window ${rate.window?.label ?? '?'})`;
  }
  const value = rate.unlimited ? 'unlimited' : rate.limitBytesPerSec === 0 || rate.limitBytesPerSec === null ? 'paused' : rate.window?.rate ?? `${formatBytes(rate.limitBytesPerSec)}/s`;
  const until = rate.nextChangeAt ? `, until ${rate.nextChangeAt.slice(0, 16).replace('T', ' ')}Z` : '';
  return `${value} (${rate.window ? `window ${rate.window.label}` : 'no window matches'}${until})`;
}

/** An error while it holds, with when it began; once cleared, only its code and when it was last seen. */
export function errorText(e: NonNullable<StatusJson['lastError']>): string {
  const when = (iso: string) => `${iso.slice(0, 19).replace('T', ' ')}Z`;
  if (e.clearedAt) return `last error ${e.code} seen ${when(e.at)}${e.source ? ` (${e.source})` : ''}, cleared ${when(e.clearedAt)}`;
  return `ERROR ${e.code}${e.source ? ` in ${e.source}` : ''} since ${when(e.since ?? e.at)}: ${e.message}`;
}
