import { errorText, etaText, rateText, transferErrorText, type StatusJson } from '../protocol/status-text.js';
import { formatBytes, formatDuration, formatRateIn, rateFamilyOf } from '../topology/units.js';

export { errorText, etaText, rateText, transferErrorText, type StatusJson };

/** A node's rings as status shows them: `all` applies to every node, so a node without rings has only that. */
export function ringsText(rings: readonly string[] | undefined): string {
  return rings?.length ? rings.join(',') : 'all only';
}


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
    // A silent node's figures are its last ones: said first, so no line reads as complete now.
    if (s.stale) parts.splice(1, 0, `STALE: last report ${s.receivedAt}, figures as of then`);
    if (!s.primary) {
      // A node holds only what its rings (and `all`) approve: with nothing pending it holds all
      // of that, though packages approved for other rings exist.
      parts.push(`rings ${ringsText(s.rings)}`);
      if (s.pending.blobs === 0) parts.push(s.stale ? 'nothing was pending for its rings then' : 'nothing pending for its rings');
      else parts.push(`pending ${s.pending.blobs} blobs ${formatBytes(s.pending.bytes)}, ${etaText(s)}`);
      if (s.upstream) parts.push(s.upstream.current === s.upstream.preferred ? `via ${s.upstream.current}` : `via FALLBACK ${s.upstream.current} (${s.upstream.preferred} offline)`);
    }
    if (s.rate) parts.push(`rate ${rateText(s.rate)}`);
    lines.push(`${prefix}${parts.join('  ')}`);
    // Rates in the unit family the node's schedule is written in.
    const family = rateFamilyOf(s.rate?.window?.rate);
    for (const t of s.transfers.slice(0, maxTransfers)) {
      const pct = t.size ? Math.floor((t.offset / t.size) * 100) : 100;
      // Labelled: the node line's ETA follows the schedule; this one only extrapolates the current rate.
      const rate = t.state === 'active' && t.rateBytesPerSec > 0 ? `  ${formatRateIn(t.rateBytesPerSec, family)}, ${formatDuration(((t.size - t.offset) / t.rateBytesPerSec) * 1000)} at this rate` : '';
      const err = t.state === 'waiting' && t.lastError ? `  ${transferErrorText(t.lastError)}` : '';
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



