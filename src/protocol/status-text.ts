import type { NodeStatus } from './status.js';
import { ERROR_CATALOGUE } from '../errors.js';
import { formatBytes, formatDuration, formatRateIn, rateFamilyOf } from '../topology/units.js';

/**
 * Status in words: the phrases `sluice status`, `sluice plan` and the console share, so a
 * rate, an error or an ETA reads the same wherever an operator meets it.
 */

/** The JSON of GET /v1/status (protocol/status.ts); a child's carries when it arrived. */
export type StatusJson = NodeStatus & { receivedAt?: string; stale?: boolean };

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

/**
 * A waiting transfer's last error. One that retrying cannot help (a vendor package whose
 * signature was refused: the catalog pins its bytes) is not "retrying": it is said so, with its
 * message, which says what to do (decline it, fix the keyring), since nothing else shows it.
 */
export function transferErrorText(e: { code: string; message: string }): string {
  const entry = (ERROR_CATALOGUE as Record<string, { retryable: boolean } | undefined>)[e.code];
  return entry && !entry.retryable ? `${e.code}, retrying cannot help: ${e.message}` : `retrying: ${e.code}`;
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

/** One node of `sluice plan` and the console's forecast. */
export interface PlanRow {
  node: string;
  upstream: string | null;
  pendingBlobs: number;
  pendingBytes: number;
  rate: string | null;
  /** When the node should hold every approved package: its own forecast, never before its upstream's. */
  doneAt: string | null;
  late: { id: string; severity: string; deadline: string; eta: string | null }[];
  reported: boolean;
  /**
   * When the node took the status this row is from (statuses climb the tree a tier at a
   * time, so the primary's copy of a leaf's may be seconds old), and the catalog it had
   * then: a node behind the primary's catalog had not yet counted the newest approvals.
   */
  asOf: string | null;
  catalogSeq: number | null;
  /** The node has not reported for longer than the tree expects (stopped, or cut off): its figures are its last ones. */
  stale: boolean;
}

/**
 * The plan's "all here by" for a row: `now`, a time, `not within 400 days`, `?` for a node that
 * never reported, and for a silent node neither `now` nor a time, since what it held at its
 * last report says nothing of what it holds now.
 */
export function allHereText(r: PlanRow): string {
  if (!r.reported) return '?';
  if (r.stale) return 'unknown: silent';
  if (r.pendingBlobs === 0 && !r.doneAt) return 'now';
  return r.doneAt ? `${r.doneAt.slice(0, 19).replace('T', ' ')}Z` : 'not within 400 days';
}

/**
 * When each node of a tree should hold every approved package: its own forecast, never
 * before its upstream's; a node waiting on an upstream that will not finish will not either.
 */
export function planRows(root: StatusJson): PlanRow[] {
  const rows: PlanRow[] = [];
  const walk = (name: string, s: StatusJson | null, upstream: PlanRow | null, upstreamStatus: StatusJson | null) => {
    if (!s) {
      rows.push({ node: name, upstream: upstream?.node ?? null, pendingBlobs: 0, pendingBytes: 0, rate: null, doneAt: null, late: [], reported: false, asOf: null, catalogSeq: null, stale: false });
      return;
    }
    const own = s.forecast?.doneAt ?? null;
    const pending = s.pending.blobs > 0;
    // Waiting on the upstream: not done before it is, unless what the upstream still fetches is
    // none of what this node waits for (a package refused at head office for one ring must not
    // make a node of another ring, fetching what its upstream holds, look as if it never finished).
    const waits = pending && upstream !== null && !pendingDisjoint(s, upstreamStatus);
    let doneAt = pending ? own : null;
    if (waits && own && upstream?.doneAt && upstream.doneAt > own) doneAt = upstream.doneAt;
    if (waits && upstream && upstream.pendingBlobs > 0 && upstream.doneAt === null && upstream.reported) doneAt = null;
    const row: PlanRow = {
      node: s.node,
      upstream: upstream?.node ?? null,
      pendingBlobs: s.pending.blobs,
      pendingBytes: s.pending.bytes,
      rate: s.rate ? rateText(s.rate) : s.primary ? 'source' : null,
      doneAt,
      late: s.forecast?.late ?? [],
      reported: true,
      asOf: s.at ?? null,
      catalogSeq: s.catalog?.seq ?? null,
      stale: s.stale === true,
    };
    rows.push(row);
    for (const [kid, ks] of Object.entries(s.children ?? {})) walk(kid, ks, row, s);
  };
  walk(root.node, root, null, null);
  return rows;
}

/**
 * Whether a node's pending packages and its upstream's are known in full and share none. A
 * list cut short (`morePackages`), or missing (a node of an earlier version), proves nothing:
 * the node is then taken to wait on its upstream.
 */
function pendingDisjoint(node: StatusJson, upstream: StatusJson | null): boolean {
  const complete = (p: StatusJson['pending']) => p.blobs === 0 || (p.packages !== undefined && p.packages.length > 0 && !(p.morePackages ?? 0));
  if (!upstream || !complete(node.pending) || !complete(upstream.pending)) return false;
  const theirs = new Set(upstream.pending.packages ?? []);
  return !(node.pending.packages ?? []).some((id) => theirs.has(id));
}
