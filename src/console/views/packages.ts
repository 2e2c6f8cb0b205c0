import type { PackageView } from '../../catalog/catalog-state.js';
import { RING_ALL } from '../../catalog/records.js';
import { SEVERITIES } from '../../domain/severity.js';
import { SluiceError } from '../../errors.js';
import { formatBytes } from '../../topology/units.js';
import { approvalUnchanged } from '../../catalog/decisions.js';
import { previewApproval } from '../approval-preview.js';
import { previewWithdraw } from '../withdraw-preview.js';
import { mayOnRings, requireRings, ringsInScope } from '../ring-scope.js';
import { packageRingsSection } from './package-rings.js';
import { packagePromotionSection } from './package-promotion.js';
import { groupApprovalForm, groupOf, inGroup } from './group-approval.js';
import { html, type Html } from '../html.js';
import { page, plural, utc } from '../layout.js';
import { pageNav, pageOf } from '../paging.js';
import type { ViewContext } from '../view-context.js';
import { PATHS, blobPath, packagePath } from '../../protocol/paths.js';

const STATES = ['new', 'approved', 'declined', 'superseded'] as const;

export interface PackageFilter {
  q?: string;
  state?: string;
  severity?: string;
  /** A vendor feed's name: only its packages; `-` for packages published by people. */
  feed?: string;
  /** A source package (`NAME` or `NAME@VERSION`): the binaries built from it. */
  source?: string;
  /** An RPM feed's advisory id: the packages it names. */
  advisory?: string;
  /** 1-based page of PAGE_ROWS rows. */
  page?: string;
}

/**
 * Packages: the catalog with state, severity, rings, files and sizes; filter, search, publish.
 * `advisoryIds`: the packages the filter's advisory names (read from the feeds by the route).
 */
export function packagesPage(ctx: ViewContext, filter: PackageFilter, advisoryIds?: ReadonlySet<string>): Html {
  const { catalog } = ctx.deps;
  const group = groupOf(filter);
  const q = (filter.q ?? '').trim().toLowerCase();
  // One pass over the catalog (a whole archive is 60,000 versions): the matches, newest first,
  // and how many of them are new; only the page's rows are rendered.
  const shown: PackageView[] = [];
  let fresh = 0;
  const stateFilter = filter.state || ctx.may('approve');
  for (const p of catalog.state.all()) {
    if (q && !p.id.toLowerCase().includes(q) && !(p.classification ?? '').toLowerCase().includes(q)) continue;
    if (filter.severity && p.severity !== filter.severity) continue;
    if (filter.feed && (filter.feed === '-' ? p.feedName !== undefined : p.feedName !== filter.feed)) continue;
    if (group && !inGroup(group, p, advisoryIds)) continue;
    const state = stateFilter ? catalog.state.stateOf(p) : undefined;
    if (filter.state && state !== filter.state) continue;
    if (state === 'new') fresh++;
    shown.push(p);
  }
  shown.reverse();
  const all = { length: catalog.state.size };
  const feeds = [...new Set([...ctx.deps.topology.feeds.keys(), ...catalog.state.feedNames()])].sort();
  const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v) as [string, string][]).toString();
  const paged = pageOf(shown, filter.page);
  const body = html`
<h1>Packages</h1>
<p class="lede">Catalog position <strong>${catalog.seq}</strong> · ${plural(all.length, 'package')}${ctx.deps.node.isPrimary ? '' : html` · read-only here: publish and approve at the primary`}</p>
${ctx.may('publish') ? publishForm() : ctx.deps.node.isPrimary && !ctx.session ? html`<p><a href="/ui/sign-in?next=/ui/packages">Sign in</a> to publish, approve or decline.</p>` : ''}
<form class="filters" role="search" action="/ui/packages" method="get" hx-get="/ui/packages" hx-target="#package-list" hx-select="#package-list" hx-swap="outerHTML" hx-push-url="true" hx-trigger="input delay:300ms, change, submit">
  <label>Search <input type="search" name="q" value="${filter.q ?? ''}" placeholder="name, version or classification" autocomplete="off"></label>
  <label>State <select name="state"><option value="">any</option>${STATES.map((s) => html`<option${filter.state === s ? html` selected` : ''}>${s}</option>`)}</select></label>
  <label>Severity <select name="severity"><option value="">any</option>${SEVERITIES.map((s) => html`<option${filter.severity === s ? html` selected` : ''}>${s}</option>`)}</select></label>
  ${feeds.length ? html`<label>Source <select name="feed"><option value="">any</option><option value="-"${filter.feed === '-' ? html` selected` : ''}>published here</option>${feeds.map((f) => html`<option value="${f}"${filter.feed === f ? html` selected` : ''}>feed ${f}</option>`)}</select></label>` : ''}
  ${filter.source ? html`<input type="hidden" name="source" value="${filter.source}">` : ''}${filter.advisory ? html`<input type="hidden" name="advisory" value="${filter.advisory}">` : ''}
  <button type="submit">Filter</button>
</form>
${group ? html`<p class="lede">Showing ${group.kind === 'advisory' ? html`the packages of advisory <strong>${group.id}</strong>` : html`the binaries of source <strong>${group.name}${group.version ? ` ${group.version}` : ''}</strong>`} · <a href="/ui/packages">show all</a></p>` : ''}
<div id="package-list" hx-get="/ui/packages${query ? `?${query}` : ''}" hx-trigger="sse:catalog" hx-select="#package-list" hx-swap="outerHTML">
<p class="count" aria-live="polite">${shown.length === all.length ? plural(all.length, 'package') : `${shown.length} of ${plural(all.length, 'package')}`}</p>
${ctx.may('approve') ? (group ? groupApprovalForm(ctx, group, shown.length) : bulkApproveForm(ctx, filter, fresh)) : ''}
<div class="table-wrap" tabindex="0" role="region" aria-label="Packages">
<table>
<thead><tr><th scope="col">Package</th><th scope="col">State</th><th scope="col">Severity</th><th scope="col">Rings</th><th scope="col">Files</th><th scope="col" class="num">Size</th><th scope="col">Published</th></tr></thead>
<tbody>
${paged.rows.map((p) => packageRow(ctx, p))}
${shown.length === 0 ? html`<tr><td colspan="7">No package matches.${all.length === 0 && ctx.may('publish') ? ' Publish the first one above.' : ''}</td></tr>` : ''}
</tbody>
</table>
</div>
${pageNav(paged, '/ui/packages', { q: filter.q, state: filter.state, severity: filter.severity, feed: filter.feed, source: filter.source, advisory: filter.advisory })}
</div>`;
  return page(ctx, 'packages', 'Packages', body, ['catalog']);
}

/** Patch day: every new package the filter shows, approved for one ring after a review. */
function bulkApproveForm(ctx: ViewContext, filter: PackageFilter, count: number): Html {
  // Only the rings the person may approve for: the API would refuse the others.
  const rings = ringsInScope(ctx, 'approve');
  if (count < 2 || rings.length === 0) return html``;
  return html`<form class="inline bulk" action="/ui/approvals/confirm" method="get" hx-get="/ui/approvals/confirm" hx-target="#confirm-bulk" hx-swap="outerHTML">
  <input type="hidden" name="q" value="${filter.q ?? ''}"><input type="hidden" name="severity" value="${filter.severity ?? ''}"><input type="hidden" name="feed" value="${filter.feed ?? ''}">
  <label>Approve the ${count} new packages shown for ring <select name="ring" required><option value="">choose a ring</option>${rings.map((r) => html`<option>${r}</option>`)}</select></label>
  <button type="submit">Review approval…</button>
</form>
<div id="confirm-bulk"></div>`;
}

/** New packages a bulk approval would take: those the filter shows that are still new. */
export function bulkSelection(ctx: ViewContext, filter: PackageFilter): PackageView[] {
  const { catalog } = ctx.deps;
  const q = (filter.q ?? '').trim().toLowerCase();
  return [...catalog.state.all()].filter(
    (p) =>
      catalog.state.stateOf(p) === 'new' &&
      (!q || p.id.toLowerCase().includes(q) || (p.classification ?? '').toLowerCase().includes(q)) &&
      (!filter.severity || p.severity === filter.severity) &&
      (!filter.feed || (filter.feed === '-' ? p.feedName === undefined : p.feedName === filter.feed)),
  );
}

/** The review of a bulk approval: every id it will approve, and the one button that does it. */
export function bulkConfirmFragment(ctx: ViewContext, filter: PackageFilter, ring: string): Html {
  const { topology } = ctx.deps;
  if (ring !== RING_ALL && !topology.rings.includes(ring)) throw new SluiceError('UNKNOWN_RING', `choose a ring: "all" or one of ${topology.rings.join(', ')}`);
  requireRings(ctx, 'approve', [ring]);
  const chosen = bulkSelection(ctx, filter).slice(0, 1000);
  const query = new URLSearchParams(Object.entries({ q: filter.q, severity: filter.severity, feed: filter.feed }).filter(([, v]) => v) as [string, string][]).toString();
  const done = `/ui/packages${query ? `?${query}` : ''}`;
  if (chosen.length === 0) return html`<section id="confirm-bulk" class="confirm"><p>No new package matches any more.</p></section>`;
  const bytes = chosen.reduce((n, p) => n + p.files.reduce((m, f) => m + f.size, 0), 0);
  return html`<section id="confirm-bulk" class="confirm" tabindex="-1" aria-labelledby="bulk-title">
<h3 id="bulk-title">Approve ${plural(chosen.length, 'package')} for ring ${ring}?</h3>
<p>${formatBytes(bytes)} in all; approved together, or none if one of them changed meanwhile.</p>
<ul class="moves">${chosen.map((p) => html`<li><strong>${p.id}</strong> (${p.severity})${p.feed ? html` <span class="muted">feed ${p.feed.name}</span>` : ''}</li>`)}</ul>
<form data-api="${PATHS.approvals}" data-body='${JSON.stringify({ ids: chosen.map((p) => p.id), ring })}' data-done="${done}" data-success="Approved ${chosen.length} packages for ${ring}"><button type="submit">Approve ${chosen.length} for ${ring}</button> <a href="${done}">Cancel</a></form>
</section>`;
}

function packageRow(ctx: ViewContext, p: PackageView): Html {
  const state = ctx.deps.catalog.state.stateOf(p);
  const size = p.files.reduce((n, f) => n + f.size, 0);
  return html`<tr>
<th scope="row"><a href="/ui/packages/${encodeURIComponent(p.id)}">${p.id}</a>${p.classification ? html` <span class="muted">${p.classification}</span>` : ''}${p.feed ? html` <span class="badge">feed ${p.feed.name}</span>` : ''}</th>
<td><span class="state state-${state}">${state}</span></td>
<td><span class="sev sev-${p.severity}">${p.severity}</span></td>
<td>${[...p.approvals.keys()].join(', ') || '–'}</td>
<td>${p.files.length}</td>
<td class="num">${formatBytes(size)}</td>
<td>${utc(p.published.at)}</td>
</tr>`;
}

function publishForm(): Html {
  return html`<details class="panel" id="publish">
<summary>Publish a package</summary>
<form id="publish-form" data-publish="${PATHS.packages}">
  <div class="grid">
    <label>Name <input name="name" required autocomplete="off"></label>
    <label>Version <input name="version" required autocomplete="off"></label>
    <label>Severity <select name="severity">${SEVERITIES.map((s) => html`<option${s === 'moderate' ? html` selected` : ''}>${s}</option>`)}</select></label>
    <label>Classification <input name="classification" placeholder="optional, e.g. security" autocomplete="off"></label>
    <label>Platform <input name="platform" placeholder="optional, e.g. linux-x64" autocomplete="off"></label>
    <label>Language <input name="language" placeholder="optional, e.g. en" autocomplete="off"></label>
    <label>Supersedes <input name="supersedes" placeholder="optional, name@version" autocomplete="off"></label>
    <label>Files <input type="file" name="files" multiple required></label>
  </div>
  <button type="submit">Publish</button>
  <progress id="publish-progress" max="100" value="0" hidden aria-label="Upload progress"></progress>
  <span id="publish-progress-text" aria-live="polite"></span>
</form>
</details>`;
}

/** One package: its files, its decisions, and (primary, signed in) approve and decline. `advisories`: those naming it (RPM feeds, at the primary). */
export function packagePage(ctx: ViewContext, id: string, advisories: readonly string[] = []): Html {
  const { catalog } = ctx.deps;
  const p = catalog.state.get(id);
  if (!p) throw new SluiceError('PACKAGE_NOT_FOUND', `no package ${id}; see the package list at /ui/packages`);
  const state = catalog.state.stateOf(p);
  const size = p.files.reduce((n, f) => n + f.size, 0);
  // Only the rings the person may approve for (the widest, `all`, last).
  const rings = ctx.canAct ? ringsInScope(ctx, 'approve') : [];
  // Declining everywhere withdraws every ring it is approved for (all, when none yet).
  const mayDeclineEverywhere = ctx.canAct && mayOnRings(ctx, 'decline', p.approvals.size ? [...p.approvals.keys()] : [RING_ALL]);
  const body = html`
<p><a href="/ui/packages">← Packages</a></p>
<h1>${p.id}</h1>
<dl class="facts">
  <dt>State</dt><dd><span class="state state-${state}">${state}</span></dd>
  <dt>Severity</dt><dd><span class="sev sev-${p.severity}">${p.severity}</span></dd>
  ${p.classification ? html`<dt>Classification</dt><dd>${p.classification}</dd>` : ''}
  ${p.feed && p.source ? html`<dt>Source</dt><dd><a href="/ui/packages?${new URLSearchParams({ source: `${p.source.name}@${p.source.version}`, feed: p.feed.name }).toString()}">${p.source.name} ${p.source.version}</a> <span class="muted">(every binary it builds, approved together)</span></dd>` : ''}
  ${advisories.length ? html`<dt>Advisories</dt><dd>${advisories.slice(0, 20).map((a, i) => html`${i ? ', ' : ''}<a href="/ui/packages?${new URLSearchParams({ advisory: a }).toString()}">${a}</a>`)}</dd>` : ''}
  <dt>Published</dt><dd>${utc(p.published.at)} by ${p.published.by}</dd>
  <dt>Approved for</dt><dd>${p.approvals.size ? [...p.approvals].map(([ring, d]) => html`<div>${ring}: ${utc(d.at)} by ${d.by}</div>`) : '–'}</dd>
  ${p.declined ? html`<dt>Declined</dt><dd>${utc(p.declined.at)} by ${p.declined.by}</dd>` : ''}
  ${p.supersedes ? html`<dt>Supersedes</dt><dd><a href="/ui/packages/${encodeURIComponent(p.supersedes)}">${p.supersedes}</a></dd>` : ''}
  ${p.supersededBy ? html`<dt>Superseded by</dt><dd><a href="/ui/packages/${encodeURIComponent(p.supersededBy)}">${p.supersededBy}</a></dd>` : ''}
</dl>
${packageRingsSection(ctx, p)}
${packagePromotionSection(ctx, p)}
${
  ctx.may('approve')
    ? html`<section class="panel actions" aria-labelledby="actions-title">
<h2 id="actions-title">Decide</h2>
${rings.length ? html`<form class="inline" action="/ui/packages/${encodeURIComponent(p.id)}/confirm" method="get" hx-get="/ui/packages/${encodeURIComponent(p.id)}/confirm" hx-target="#confirm" hx-swap="outerHTML">
  <input type="hidden" name="action" value="approve">
  <label>Ring <select name="ring" required><option value="">choose a ring</option>${rings.map((r) => html`<option>${r}</option>`)}</select></label>
  <button type="submit">Review approval…</button>
</form>` : ''}
${p.declined || !mayDeclineEverywhere ? '' : html`<form class="inline" action="/ui/packages/${encodeURIComponent(p.id)}/confirm" method="get" hx-get="/ui/packages/${encodeURIComponent(p.id)}/confirm" hx-target="#confirm" hx-swap="outerHTML">
  <input type="hidden" name="action" value="decline">
  <button type="submit" class="danger">Review decline…</button>
</form>`}
<div id="confirm"></div>
</section>`
    : ctx.deps.node.isPrimary && !ctx.session
      ? html`<p><a href="/ui/sign-in?next=${encodeURIComponent(`/ui/packages/${p.id}`)}">Sign in</a> to approve or decline.</p>`
      : ''
}
<h2>${plural(p.files.length, 'file')}, ${formatBytes(size)}</h2>
<div class="table-wrap" tabindex="0" role="region" aria-label="Files">
<table>
<thead><tr><th scope="col">File</th><th scope="col" class="num">Size</th><th scope="col">Platform</th><th scope="col">Language</th><th scope="col">sha256</th></tr></thead>
<tbody>${p.files.map(
    (f) => html`<tr><th scope="row"><a href="${blobPath(f.sha256)}" download="${f.name}">${f.name}</a></th><td class="num">${formatBytes(f.size)}</td><td>${f.platform ?? 'any'}</td><td>${f.language ?? 'any'}</td><td><code title="${f.sha256}">${f.sha256.slice(0, 16)}…</code></td></tr>`,
  )}</tbody>
</table>
</div>`;
  return page(ctx, 'packages', p.id, body);
}

/** The confirmation naming what will move and where, with the one button that does it. */
export function confirmFragment(ctx: ViewContext, id: string, action: string, ring: string): Html {
  const { catalog, topology } = ctx.deps;
  const p = catalog.state.get(id);
  if (!p) throw new SluiceError('PACKAGE_NOT_FOUND', `no package ${id}`);
  const api = packagePath(id);
  const done = `/ui/packages/${encodeURIComponent(id)}`;
  if (action === 'decline') {
    requireRings(ctx, 'decline', p.approvals.size ? [...p.approvals.keys()] : [RING_ALL]);
    const holders = [...topology.nodes.values()].filter((n) => !n.isPrimary && catalog.state.isWantedBy(p, n.rings)).map((n) => n.name);
    return html`<section id="confirm" class="confirm" tabindex="-1" aria-labelledby="confirm-title">
<h3 id="confirm-title">Decline ${p.id}?</h3>
<p>Endpoints will no longer be offered it. ${holders.length ? html`${plural(holders.length, 'node')} that receive it now (${holders.join(', ')}) stop fetching it and delete it after the grace period.` : 'No node receives it now.'} Installed copies stay installed.</p>
<form data-api="${api}/decline" data-body="{}" data-done="${done}" data-success="Declined ${p.id}"><button type="submit" class="danger">Decline ${p.id}</button> <a href="${done}">Cancel</a></form>
</section>`;
  }
  if (ring !== RING_ALL && !topology.rings.includes(ring)) throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring}"; expected "all" or one of: ${topology.rings.join(', ')}`);
  if (action === 'withdraw') return withdrawFragment(ctx, p, ring);
  requireRings(ctx, 'approve', [ring]);
  const preview = previewApproval(topology, catalog.state, p, ring);
  const unchanged = approvalUnchanged(catalog, p, ring);
  return html`<section id="confirm" class="confirm" tabindex="-1" aria-labelledby="confirm-title">
<h3 id="confirm-title">Approve ${p.id} (${p.severity}) for ring ${ring}?</h3>
${unchanged ? html`<p class="error">This would change nothing for any machine: ${unchanged.message.replace(/; nothing was changed$/, '')} (${unchanged.code}).</p>` : ''}
${
  preview.moves.length
    ? html`<p>${formatBytes(preview.totalBytes)} will move to ${plural(preview.moves.length, 'node')}${p.severity === 'critical' ? ' through the critical lane' : ''}:</p>
<ul class="moves">${preview.moves.map((m) => html`<li><strong>${m.node}</strong> (${m.region}) ${m.role === 'relay' ? 'relays' : 'receives'} ${plural(m.files, 'file')}, ${formatBytes(m.bytes)}</li>`)}</ul>`
    : html`<p>No node will start fetching: ${preview.already.length ? 'every node of the ring already receives it.' : 'no node of the ring accepts its files.'}</p>`
}
${preview.rings.some((r) => r.from) ? html`<p>Machines of ${preview.rings.filter((r) => r.from).map((r, i) => html`${i ? ', ' : ''}<strong>${r.ring}</strong> move from ${r.from}`)} to ${p.id}.</p>` : ''}
${preview.unchanged.length ? html`<p>Other rings keep theirs: ${preview.unchanged.map((u, i) => html`${i ? '; ' : ''}${u.ring} keeps ${u.keeps}`)}.</p>` : ''}
${preview.already.length ? html`<p class="muted">Already receiving it: ${preview.already.join(', ')}.</p>` : ''}
${preview.filtered.length ? html`<p class="muted">In the ring but taking none of its files (accept filters): ${preview.filtered.join(', ')}.</p>` : ''}
${unchanged ? html`<p><a href="${done}">Back</a></p>` : html`<form data-api="${api}/approve" data-body='${JSON.stringify({ ring })}' data-done="${done}" data-success="Approved ${p.id} for ${ring}"><button type="submit">Approve for ${ring}</button> <a href="${done}">Cancel</a></form>`}
</section>`;
}

/** Withdrawing one ring's approval (`sluice decline ID --ring R`): what that ring's machines receive afterwards. */
function withdrawFragment(ctx: ViewContext, p: PackageView, ring: string): Html {
  requireRings(ctx, 'decline', [ring]);
  if (!p.approvals.has(ring)) throw new SluiceError('NOT_APPROVED_FOR_RING', `${p.id} is not approved for ${ring} (approved for: ${[...p.approvals.keys()].join(', ') || 'no ring'}); there is nothing to withdraw`);
  const done = `/ui/packages/${encodeURIComponent(p.id)}`;
  const outcomes = previewWithdraw(ctx.deps.topology, ctx.deps.catalog.state, p, ring);
  const said = outcomes.map((o) =>
    o.kind === 'replaced'
      ? html`<li><strong>${o.ring}</strong> receives ${o.by} already, which replaced it there: no machine changes</li>`
      : o.kind === 'through-all'
        ? html`<li><strong>${o.ring}</strong> keeps receiving it through its approval for all</li>`
        : o.kind === 'falls-back'
          ? html`<li>machines of <strong>${o.ring}</strong> go back to ${o.to}</li>`
          : html`<li>machines of <strong>${o.ring}</strong> are no longer offered any version of ${p.name}</li>`,
  );
  return html`<section id="confirm" class="confirm" tabindex="-1" aria-labelledby="confirm-title">
<h3 id="confirm-title">Withdraw the approval of ${p.id} for ${ring}?</h3>
${said.length ? html`<ul class="moves">${said}</ul>` : ''}
<p>Every other ring keeps what it has. Installed copies stay installed.</p>
<form data-api="${packagePath(p.id)}/decline" data-body='${JSON.stringify({ ring })}' data-done="${done}" data-success="Withdrew ${p.id} from ${ring}"><button type="submit" class="danger">Withdraw from ${ring}</button> <a href="${done}">Cancel</a></form>
</section>`;
}
