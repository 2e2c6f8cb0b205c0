import { errorText, etaText, rateText, transferErrorText, type StatusJson } from '../../protocol/status-text.js';
import { formatBytes, formatDuration, formatRateIn, rateFamilyOf } from '../../topology/units.js';
import { html, type Html } from '../html.js';
import { page, plural, utc } from '../layout.js';
import type { ViewContext } from '../view-context.js';

/** Transfers listed per node; the rest are counted. */
const TRANSFERS_SHOWN = 5;

/** Tree: every node with its position, backlog, rate and window, transfers, upstream, errors; live. */
export function treePage(ctx: ViewContext): Html {
  const body = html`
<h1>Tree</h1>
<p class="lede">Every node below ${ctx.deps.node.name}, as each last reported. Updates live.</p>
<div id="tree" sse-swap="tree">${treeFragment(ctx.deps.status() as StatusJson, ctx.now)}</div>`;
  return page(ctx, 'tree', 'Tree', body, ['tree']);
}

/** The live part of the tree view (sent again over server-sent events when it changes). */
export function treeFragment(root: StatusJson, now: number): Html {
  const rows: Html[] = [];
  let nodes = 0;
  let stale = 0;
  const primarySeq = root.catalog.seq;
  const walk = (name: string, s: StatusJson | null, depth: number) => {
    nodes++;
    if (!s) {
      stale++;
      rows.push(html`<tr class="stale"><th scope="row" class="depth-${Math.min(depth, 8)}"><span class="node">${name}</span></th><td colspan="6"><span class="badge warn">no report yet</span></td></tr>`);
      return;
    }
    if (s.stale) stale++;
    rows.push(safeRow(name, s, depth, primarySeq, now));
    const kids = s.children && typeof s.children === 'object' ? Object.entries(s.children) : [];
    for (const [kid, ks] of kids) walk(kid, ks, depth + 1);
  };
  walk(root.node, root, 0);
  return html`<p class="count">${plural(nodes, 'node')}${stale ? html` · <span class="badge warn">${stale} stale or silent</span>` : ''}</p>
<div class="table-wrap" tabindex="0" role="region" aria-label="Nodes of the tree">
<table class="tree">
<thead><tr><th scope="col">Node</th><th scope="col">Catalog</th><th scope="col">Stored</th><th scope="col">Pending</th><th scope="col">Rate and window</th><th scope="col">Upstream</th><th scope="col">Transfers and errors</th></tr></thead>
<tbody>${rows}</tbody>
</table>
</div>`;
}

/**
 * A node's row, or an "unreadable" row when its figures cannot be rendered: one node's bad
 * status (stored before it was checked, or by a bug) must not take the page, or the live
 * stream that renders it every second, down with it.
 */
function safeRow(name: string, s: StatusJson, depth: number, primarySeq: number, now: number): Html {
  try {
    return nodeRow(s, depth, primarySeq, now);
  } catch {
    return html`<tr class="stale" data-node="${name}"><th scope="row" class="depth-${Math.min(depth, 8)}"><span class="node">${name}</span></th><td colspan="6"><span class="badge err">unreadable</span> <span class="muted">its last status could not be shown</span></td></tr>`;
  }
}

function nodeRow(s: StatusJson, depth: number, primarySeq: number, now: number): Html {
  const behind = primarySeq - s.catalog.seq;
  const family = rateFamilyOf(s.rate?.window?.rate);
  // What the node is taking in now, across its transfers (the limit is in the next column).
  const receiving = s.transfers.reduce((n, t) => n + (t.state === 'active' ? t.rateBytesPerSec : 0), 0);
  const upstream = s.upstream
    ? s.upstream.current === s.upstream.preferred
      ? html`${s.upstream.current}`
      : html`<span class="badge warn">fallback</span> ${s.upstream.current} <span class="muted">(${s.upstream.preferred} unreachable)</span>`
    : html`<span class="muted">source</span>`;
  const transfers = s.transfers.slice(0, TRANSFERS_SHOWN).map((t) => {
    const pct = t.size ? Math.floor((t.offset / t.size) * 100) : 100;
    const eta = t.state === 'active' && t.rateBytesPerSec > 0 ? `, ${formatRateIn(t.rateBytesPerSec, family)}, ${formatDuration(((t.size - t.offset) / t.rateBytesPerSec) * 1000)} at this rate` : '';
    return html`<li class="transfer"><span class="tstate">${t.state}</span> ${t.packages.join(', ')}
<progress max="${t.size || 1}" value="${t.offset}" aria-label="${t.packages.join(', ')} ${pct}%"></progress> ${pct}% ${formatBytes(t.offset)} of ${formatBytes(t.size)}${eta}${t.state === 'waiting' && t.lastError ? html` <span class="badge err">${transferErrorText(t.lastError)}</span>` : ''}</li>`;
  });
  const more = s.transfers.length > TRANSFERS_SHOWN ? html`<li class="muted">and ${s.transfers.length - TRANSFERS_SHOWN} more</li>` : '';
  const late = (s.forecast?.late ?? []).map((l) => html`<li><span class="badge err">late</span> ${l.id} (${l.severity}) due ${utc(l.deadline)}</li>`);
  const error = s.lastError ? html`<li class="${s.lastError.clearedAt ? 'muted' : 'error'}">${errorText(s.lastError)}</li>` : '';
  return html`<tr class="${s.stale ? 'stale' : ''}" data-node="${s.node}">
<th scope="row" class="depth-${Math.min(depth, 8)}"><span class="node">${s.node}</span>${s.primary ? html` <span class="badge">primary</span>` : ''}${s.stale ? html` <span class="badge warn">stale since ${utc(s.receivedAt)}</span>` : ''}${s.ready ? '' : html` <span class="badge warn">not ready</span>`}<div class="muted">${s.region} · rings ${s.rings?.length ? s.rings.join(', ') : 'all only'}</div></th>
<td data-label="Catalog">${s.catalog.seq}${behind > 0 ? html` <span class="badge warn">${behind} behind</span>` : ''}</td>
<td data-label="Stored">${plural(s.store.blobs, 'blob')}, ${formatBytes(s.store.bytes)}</td>
<td data-label="Pending">${s.primary ? html`<span class="muted">–</span>` : s.pending.blobs === 0 ? html`<span class="ok">nothing pending for its rings</span>` : html`${plural(s.pending.blobs, 'blob')}, ${formatBytes(s.pending.bytes)}${receiving > 0 ? html`<div>receiving ${formatRateIn(receiving, family)}</div>` : ''}<div class="muted">${etaText(s, now)}</div>`}</td>
<td data-label="Rate">${s.rate ? rateText(s.rate) : html`<span class="muted">source</span>`}</td>
<td data-label="Upstream">${upstream}${s.upstream?.lastSyncAt ? html`<div class="muted">synced ${utc(s.upstream.lastSyncAt)}</div>` : ''}</td>
<td data-label="Transfers"><ul class="plain">${transfers}${more}${late}${error}</ul></td>
</tr>`;
}
