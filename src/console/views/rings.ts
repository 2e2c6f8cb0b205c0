import { RING_ALL } from '../../catalog/records.js';
import { REPORT_STATUSES } from '../../domain/report-statuses.js';
import { SluiceError } from '../../errors.js';
import type { StatusJson } from '../../protocol/status-text.js';
import { COMPLIANT_STATUSES } from '../../reports/compliance.js';
import { ringsView, type RingEndpoints, type RingNode, type RingVersion, type RingView } from '../../reports/rings-view.js';
import { html, type Html } from '../html.js';
import { page, plural, utc } from '../layout.js';
import { PAGE_ROWS, pageNav } from '../paging.js';
import type { ViewContext } from '../view-context.js';

export interface RingsFilter {
  /** One ring (or `all`); empty: every ring. */
  ring?: string;
  /** Text in package names. */
  q?: string;
  /** 1-based page of PAGE_ROWS rows. */
  page?: string;
}

/** One line of the table: a version a ring receives. */
type Row = { ring: RingView; name: string; first: boolean; version: RingVersion };

/**
 * Rings: per ring (and `all`), each package name with the versions its machines receive now,
 * the nodes that hold each or are still fetching it, and the ring's endpoints' outcomes at its
 * sites (GET /v1/rings, reports/rings-view.ts); filter, 200 package names a page; live.
 */
export function ringsPage(ctx: ViewContext, filter: RingsFilter): Html {
  const { topology } = ctx.deps;
  const ring = filter.ring || undefined;
  if (ring !== undefined && ring !== RING_ALL && !topology.rings.includes(ring)) throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring}"; expected "all" or one of: ${topology.rings.join(', ') || '(no rings in the topology)'}`);
  // 200 package names a page (a name with several versions has a row for each): only the
  // page's rows are built, whatever the catalog's size.
  const asked = Math.max(1, Math.floor(Number(filter.page) || 1));
  const first = ringsView({ catalog: ctx.deps.catalog.state, topology, status: ctx.deps.status() as StatusJson, sites: ctx.deps.rollup.subtree() }, { ring, q: filter.q, offset: (asked - 1) * PAGE_ROWS, limit: PAGE_ROWS });
  const pages = Math.max(1, Math.ceil(first.total / PAGE_ROWS));
  // Past the last page (an old link, a shorter list now): the last page.
  const result = asked <= pages ? first : ringsView({ catalog: ctx.deps.catalog.state, topology, status: ctx.deps.status() as StatusJson, sites: ctx.deps.rollup.subtree() }, { ring, q: filter.q, offset: (pages - 1) * PAGE_ROWS, limit: PAGE_ROWS });
  const view = result.rings;
  const rows: Row[] = view.flatMap((r) => r.packages.flatMap((p) => p.versions.map((v, i) => ({ ring: r, name: p.name, first: i === 0, version: v }))));
  const paged = { rows: view.flatMap((r) => r.packages), page: Math.min(asked, pages), pages, total: result.total };
  const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v) as [string, string][]).toString();
  const everyRing = [...topology.rings.filter((r) => r !== RING_ALL), RING_ALL];
  const body = html`
<h1>Rings</h1>
<p class="lede">What each ring's machines receive now, which nodes hold it, and how the ring's endpoints did. A ring changes only by an act on that ring.</p>
<form class="filters" role="search" action="/ui/rings" method="get" hx-get="/ui/rings" hx-target="#ring-list" hx-select="#ring-list" hx-swap="outerHTML" hx-push-url="true" hx-trigger="input delay:300ms, change, submit">
  <label>Ring <select name="ring"><option value="">every ring</option>${everyRing.map((r) => html`<option${ring === r ? html` selected` : ''}>${r}</option>`)}</select></label>
  <label>Package <input type="search" name="q" value="${filter.q ?? ''}" placeholder="name" autocomplete="off"></label>
  <button type="submit">Filter</button>
</form>
<div id="ring-list" hx-get="/ui/rings${query ? `?${query}` : ''}" hx-trigger="sse:catalog, sse:reports, sse:holdings" hx-select="#ring-list" hx-swap="outerHTML">
<ul class="ring-summary">${view.map((r) => html`<li data-ring="${r.ring}"><strong>${r.ring}</strong>${r.ring === RING_ALL ? html` <span class="muted">(machines of no ring)</span>` : ''}: ${r.names ? plural(r.names, 'package') : 'nothing reaches it now'} · nodes ${r.nodes.join(', ') || 'none'} · ${r.clients ? `${plural(r.clients, 'endpoint')} (${r.sites.filter((s) => s.clients > 0).map((s) => `${s.site} ${s.clients}`).join(', ')})` : 'no endpoints'}</li>`)}</ul>
<div class="table-wrap" tabindex="0" role="region" aria-label="Versions each ring receives">
<table class="rings">
<thead><tr><th scope="col">Ring</th><th scope="col">Package</th><th scope="col">Version</th><th scope="col">Nodes</th><th scope="col">Endpoints</th></tr></thead>
<tbody>
${rows.map((row) => ringRow(row))}
${rows.length === 0 ? html`<tr><td colspan="5">${filter.q ? 'No package of that name reaches these rings now.' : 'No package reaches these rings now.'}</td></tr>` : ''}
</tbody>
</table>
</div>
${pageNav(paged, '/ui/rings', { ring: filter.ring, q: filter.q })}
</div>`;
  return page(ctx, 'rings', 'Rings', body, ['catalog', 'reports', 'holdings']);
}

function ringRow({ ring, name, first, version: v }: Row): Html {
  return html`<tr data-ring="${ring.ring}" data-package="${v.id}">
<th scope="row">${ring.ring}</th>
<td>${first ? name : html`<span class="muted">${name}</span>`}</td>
<td><a href="/ui/packages/${encodeURIComponent(v.id)}">${v.version}</a> <span class="sev sev-${v.severity}">${v.severity}</span>${v.via === ring.ring ? '' : html` <span class="muted">via ${v.via}</span>`}<div class="muted">approved ${utc(v.approvedAt)}</div></td>
<td>${nodesCell(v.nodes)}</td>
<td>${endpointsCell(v.endpoints)}</td>
</tr>`;
}

function nodesCell(nodes: readonly RingNode[]): Html {
  if (nodes.length === 0) return html`<span class="muted">no node takes its files</span>`;
  return html`<ul class="plain">${nodes.map(
    (n) =>
      html`<li data-node="${n.node}">${n.node}${n.role === 'relay' ? html` <span class="muted">(relay)</span>` : ''}: ${
        n.state === 'holds'
          ? html`<span class="ok">holds</span>`
          : n.state === 'fetching'
            ? html`<span class="badge warn">fetching</span> <span class="muted">expected ${n.expectedBy ? utc(n.expectedBy) : 'not within 400 days'}</span>`
            : n.state === 'behind'
              ? html`<span class="badge warn">behind</span> <span class="muted">catalog predates the approval</span>`
              : html`<span class="muted">unknown</span>`
      }</li>`,
  )}</ul>`;
}

function endpointsCell(e: RingEndpoints): Html {
  if (e.clients === 0) return html`<span class="muted">no endpoints</span>`;
  const parts = REPORT_STATUSES.filter((s) => e.counts[s] > 0).map((s) => html`<span class="status-${s}">${e.counts[s]} ${s}</span>`);
  if (e.notReported) parts.push(html`<span>${e.notReported} not reported</span>`);
  return html`<meter min="0" max="100" low="80" high="99" optimum="100" value="${e.compliantPercent ?? 0}" aria-hidden="true"></meter> ${e.compliantPercent}% of ${e.clients}
<div>${parts.map((p, i) => html`${i ? ' · ' : ''}${p}`)}</div>
${e.sites.length > 1 ? html`<div class="muted">${e.sites.map((s, i) => html`${i ? ' · ' : ''}${s.site}: ${COMPLIANT_STATUSES.reduce((n, k) => n + (s.counts[k] ?? 0), 0)} of ${s.clients} compliant`)}</div>` : ''}`;
}
