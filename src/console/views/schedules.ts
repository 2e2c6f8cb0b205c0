import { planRows, rateText, type StatusJson } from '../../protocol/status-text.js';
import type { ScheduleWindow } from '../../topology/types.js';
import { formatBytes } from '../../topology/units.js';
import { html, type Html } from '../html.js';
import { localTime, page, plural, utc } from '../layout.js';
import type { ViewContext } from '../view-context.js';

/** Schedules and forecast: each region's windows in its own time zone, what is in force, `sluice plan`. */
export function schedulesPage(ctx: ViewContext): Html {
  const { topology } = ctx.deps;
  const root = ctx.deps.status() as StatusJson;
  const statuses = new Map<string, StatusJson>();
  const collect = (s: StatusJson | null) => {
    if (!s) return;
    statuses.set(s.node, s);
    for (const k of Object.values(s.children ?? {})) collect(k);
  };
  collect(root);
  const plan = planRows(root);
  const late = plan.flatMap((r) => r.late.map((l) => ({ node: r.node, ...l })));
  // The primary is the source and follows no schedule: regions are shown for the nodes that pull.
  const pulling = (regionName: string) => [...topology.nodes.values()].filter((n) => !n.isPrimary && n.region === regionName && statuses.has(n.name));
  const regions = [...topology.regions.values()].filter((r) => pulling(r.name).length > 0);
  const body = html`
<h1>Schedules and forecast</h1>
<section aria-labelledby="forecast-title">
<h2 id="forecast-title">Forecast</h2>
<p class="lede">When each node should hold every approved package, by its schedule and backlog; a node cannot finish before its upstream. ${late.length ? html`<span class="badge err">${plural(late.length, 'package')} will miss the deadline</span>` : html`<span class="ok">Nothing will miss its deadline.</span>`}</p>
<div class="table-wrap" tabindex="0" role="region" aria-label="Forecast per node">
<table>
<thead><tr><th scope="col">Node</th><th scope="col">Pending</th><th scope="col">Rate now</th><th scope="col">All here by</th></tr></thead>
<tbody>${plan.map(
    (r) => html`<tr><th scope="row">${r.node}</th><td>${r.reported ? `${plural(r.pendingBlobs, 'blob')}, ${formatBytes(r.pendingBytes)}` : 'no report'}</td><td>${r.rate ?? '–'}</td><td>${!r.reported ? '?' : r.pendingBlobs === 0 && !r.doneAt ? 'now' : r.doneAt ? utc(r.doneAt) : html`<span class="badge err">not within 400 days</span>`}</td></tr>`,
  )}</tbody>
</table>
</div>
${
  late.length
    ? html`<h3>Will miss their deadline</h3><ul>${late.map((l) => html`<li><strong>${l.id}</strong> (${l.severity}) at ${l.node}: due ${utc(l.deadline)}, expected ${l.eta ? utc(l.eta) : 'not within 400 days'}</li>`)}</ul>`
    : ''
}
</section>
${regions.map((region) => {
  const nodes = pulling(region.name);
  return html`<section class="region" aria-labelledby="region-${region.name}">
<h2 id="region-${region.name}">Region ${region.name} <span class="muted">${region.timezone}, now ${localTime(ctx.now, region.timezone)}</span></h2>
${windowList(region.schedule)}
<p>Critical lane: ${region.critical.kind === 'bypass' ? 'bypasses the schedule' : region.critical.kind === 'rate' ? `its own rate, ${region.critical.text}` : 'follows the schedule'}.</p>
<div class="table-wrap" tabindex="0" role="region" aria-label="Nodes of region ${region.name}">
<table>
<thead><tr><th scope="col">Node</th><th scope="col">In force now</th><th scope="col">Next change (${region.timezone})</th></tr></thead>
<tbody>${nodes.map((n) => {
    const s = statuses.get(n.name)!;
    return html`<tr><th scope="row">${n.name}${n.schedule ? html` <span class="badge">own schedule</span>` : ''}</th><td>${s.rate ? rateText(s.rate) : html`<span class="muted">source: no schedule</span>`}</td><td>${s.rate?.nextChangeAt ? localTime(Date.parse(s.rate.nextChangeAt), region.timezone) : '–'}</td></tr>`;
  })}</tbody>
</table>
</div>
${nodes.filter((n) => n.schedule).map((n) => html`<h3>${n.name}'s own schedule</h3>${windowList(n.schedule!)}`)}
</section>`;
})}`;
  return page(ctx, 'schedules', 'Schedules and forecast', body, ['catalog']);
}

function windowList(windows: readonly ScheduleWindow[]): Html {
  return html`<ul class="windows">${windows.map((w) => html`<li><code>${w.label}</code>${w.background ? ' (background: only spare bandwidth)' : ''}</li>`)}</ul>`;
}
