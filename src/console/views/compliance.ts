import { complianceRows, type ComplianceRow } from '../../reports/compliance.js';
import type { SiteSummary } from '../../reports/report-store.js';
import { REPORT_STATUSES } from '../../domain/report-statuses.js';
import { html, type Html } from '../html.js';
import { page, plural, utc } from '../layout.js';
import { pageNav, pageOf } from '../paging.js';
import type { ViewContext } from '../view-context.js';

export interface ComplianceFilter {
  package?: string;
  site?: string;
  /** `late`: only rows past their deadline. */
  only?: string;
  /** 1-based page of PAGE_ROWS rows (the page view; the CSV has every row). */
  page?: string;
}

/** A row with the newest failure its site reported for the package. */
type Row = ComplianceRow & { lastFailure: SiteSummary['failures'][number] | undefined };

export function complianceData(ctx: ViewContext, filter: ComplianceFilter, sites = ctx.deps.rollup.subtree()): Row[] {
  const rows = complianceRows(ctx.deps.catalog.state, ctx.deps.topology, sites, ctx.now, { package: filter.package || undefined, site: filter.site || undefined });
  return rows
    .filter((r) => filter.only !== 'late' || r.pastDeadline)
    .map((r) => ({ ...r, lastFailure: sites[r.site]?.failures.filter((f) => f.package === r.package).sort((a, b) => b.at.localeCompare(a.at))[0] }));
}

/** Compliance: per package and site, endpoints by status, % compliant, failures, deadlines; CSV. */
export function compliancePage(ctx: ViewContext, filter: ComplianceFilter): Html {
  const subtree = ctx.deps.rollup.subtree();
  const rows = complianceData(ctx, filter, subtree);
  const late = rows.filter((r) => r.pastDeadline).length;
  const packages = [...new Set([...ctx.deps.catalog.state.all()].filter((p) => ctx.deps.catalog.state.stateOf(p) === 'approved').map((p) => p.id))];
  const sites = Object.keys(subtree);
  const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v) as [string, string][]).toString();
  const csvQuery = new URLSearchParams(Object.entries({ ...filter, page: undefined }).filter(([, v]) => v) as [string, string][]).toString();
  const paged = pageOf(rows, filter.page);
  const body = html`
<h1>Compliance</h1>
<p class="lede">Approved packages at each site where they apply, from the endpoints' reports. ${late ? html`<span class="badge err">${plural(late, 'row')} past deadline</span>` : ''}</p>
<form class="filters" action="/ui/compliance" method="get" hx-get="/ui/compliance" hx-target="#compliance-list" hx-select="#compliance-list" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit">
  <label>Package <select name="package"><option value="">any</option>${packages.map((p) => html`<option${filter.package === p ? html` selected` : ''}>${p}</option>`)}</select></label>
  <label>Site <select name="site"><option value="">any</option>${sites.map((s) => html`<option${filter.site === s ? html` selected` : ''}>${s}</option>`)}</select></label>
  <label>Show <select name="only"><option value="">all rows</option><option value="late"${filter.only === 'late' ? html` selected` : ''}>past deadline only</option></select></label>
  <button type="submit">Filter</button>
  <a class="button secondary" href="/ui/compliance.csv${csvQuery ? `?${csvQuery}` : ''}" download>Export CSV</a>
</form>
<div id="compliance-list" hx-get="/ui/compliance${query ? `?${query}` : ''}" hx-trigger="sse:reports" hx-select="#compliance-list" hx-swap="outerHTML">
<div class="table-wrap" tabindex="0" role="region" aria-label="Compliance by package and site">
<table>
<thead><tr><th scope="col">Package</th><th scope="col">Site</th><th scope="col" class="num">Endpoints</th><th scope="col" class="num">Compliant</th><th scope="col">By status</th><th scope="col" class="num">Not reported</th><th scope="col">Deadline</th><th scope="col">Last failure</th></tr></thead>
<tbody>
${paged.rows.map(
  (r) => html`<tr class="${r.pastDeadline ? 'late' : ''}">
<th scope="row"><a href="/ui/packages/${encodeURIComponent(r.package)}">${r.package}</a> <span class="sev sev-${r.severity}">${r.severity}</span></th>
<td>${r.site}</td><td class="num">${r.clients}</td>
<td class="num">${r.compliantPercent === null ? html`<span class="muted">no endpoints</span>` : html`<meter min="0" max="100" low="80" high="99" optimum="100" value="${r.compliantPercent}" aria-hidden="true"></meter> ${r.compliantPercent}%`}</td>
<td>${byStatus(r)}</td>
<td class="num">${r.notReported}</td>
<td>${utc(r.deadline)}${r.pastDeadline ? html` <span class="badge err">past deadline</span>` : ''}</td>
<td>${r.lastFailure ? html`${r.lastFailure.clientId}: ${r.lastFailure.error ?? 'failed'} <span class="muted">${utc(r.lastFailure.at)}</span>` : html`<span class="muted">–</span>`}</td>
</tr>`,
)}
${rows.length === 0 ? html`<tr><td colspan="8">No rows: nothing approved applies to a site here yet${filter.package || filter.site || filter.only ? ', or the filter leaves none' : ''}.</td></tr>` : ''}
</tbody>
</table>
</div>
${pageNav(paged, '/ui/compliance', { package: filter.package, site: filter.site, only: filter.only })}
</div>`;
  return page(ctx, 'compliance', 'Compliance', body, ['reports']);
}

/** Only the statuses some endpoint is in: `1 succeeded · 2 failed`. */
function byStatus(r: ComplianceRow): Html {
  const parts = REPORT_STATUSES.filter((s) => r.counts[s] > 0).map((s) => html`<span class="status-${s}">${r.counts[s]} ${s}</span>`);
  return parts.length ? html`${parts.map((p, i) => html`${i ? ' · ' : ''}${p}`)}` : html`<span class="muted">none yet</span>`;
}

/** The same rows as CSV (RFC 4180), one line per package and site. */
export function complianceCsv(ctx: ViewContext, filter: ComplianceFilter): string {
  const head = ['package', 'severity', 'site', 'endpoints', ...REPORT_STATUSES, 'not_reported', 'compliant_percent', 'deadline', 'past_deadline', 'last_failure_client', 'last_failure_error', 'last_failure_at'];
  const lines = [head, ...complianceData(ctx, filter).map((r) => [r.package, r.severity, r.site, r.clients, ...REPORT_STATUSES.map((s) => r.counts[s]), r.notReported, r.compliantPercent ?? '', r.deadline, r.pastDeadline, r.lastFailure?.clientId ?? '', r.lastFailure?.error ?? '', r.lastFailure?.at ?? ''])];
  return lines.map((l) => l.map((v) => csvField(String(v))).join(',')).join('\r\n') + '\r\n';
}

function csvField(v: string): string {
  // A leading =, +, - or @ would run as a formula in a spreadsheet: quoted with a ' first.
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) || safe !== v ? `"${safe.replace(/"/g, '""')}"` : safe;
}
