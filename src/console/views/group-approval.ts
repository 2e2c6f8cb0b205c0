import { approveManyRecords } from '../../catalog/decisions.js';
import { RING_ALL, parsePackageId } from '../../catalog/records.js';
import type { PackageView } from '../../catalog/catalog-state.js';
import { ADVISORY_ID } from '../../domain/advisory-id.js';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import { formatBytes } from '../../topology/units.js';
import { html, type Html } from '../html.js';
import { plural } from '../layout.js';
import { requireRings, ringsInScope } from '../ring-scope.js';
import type { ViewContext } from '../view-context.js';

/**
 * Patch day's unit of approval in the console, as `sluice approve --source` and `--advisory`
 * are on the command line: every binary a Debian source version builds, or every package an
 * RPM feed's advisory names, reviewed (what each ring will lack, what is already there) and
 * approved for one ring in one signed append (`POST /v1/approvals` with `source` or `advisory`).
 */
export type PackageGroup = { readonly kind: 'source'; readonly name: string; readonly version: string | undefined; readonly feed: string | undefined } | { readonly kind: 'advisory'; readonly id: string; readonly feed: string | undefined };

/** The group a package list's filter names (`source=NAME[@VERSION]`, `advisory=ID`), checked; undefined for none. */
export function groupOf(q: { source?: string; advisory?: string; feed?: string }): PackageGroup | undefined {
  const feed = q.feed && q.feed !== '-' ? q.feed : undefined;
  if (q.advisory) {
    if (!ADVISORY_ID.test(q.advisory)) throw new SluiceError('BAD_REQUEST', 'advisory must be an advisory id such as RHSA-2024:1234');
    return { kind: 'advisory', id: q.advisory, feed };
  }
  if (!q.source) return undefined;
  if (q.source.length > 200) throw new SluiceError('BAD_REQUEST', 'source must be at most 200 characters');
  if (!q.source.includes('@')) return { kind: 'source', name: q.source, version: undefined, feed };
  const id = parsePackageId(q.source);
  if (!id) throw new SluiceError('BAD_REQUEST', 'source must be a source name, or name@version such as openssl@3.0.15-1~deb12u1');
  return { kind: 'source', name: id.name, version: id.version, feed };
}

/** Whether `p` belongs to `group` (an advisory's members are given, read from the feeds at the primary). */
export function inGroup(group: PackageGroup, p: PackageView, advisoryIds: ReadonlySet<string> | undefined): boolean {
  if (group.feed !== undefined && p.feedName !== group.feed) return false;
  if (group.kind === 'advisory') return advisoryIds?.has(p.id) ?? false;
  return p.source !== undefined && p.source.name === group.name && (group.version === undefined || p.source.version === group.version);
}

/** The ids of an advisory's packages, at the primary (where the feeds keep advisories); an empty set elsewhere or for an unknown advisory. */
export async function advisoryMembers(ctx: ViewContext, group: PackageGroup | undefined): Promise<ReadonlySet<string> | undefined> {
  if (group?.kind !== 'advisory') return undefined;
  return new Set((await ctx.deps.advisories?.packagesOf(group.id)) ?? []);
}

/** Packages a review lists by name, at most (an advisory of a whole update stream names thousands). */
const SHOWN = 200;

const label = (g: PackageGroup) => (g.kind === 'advisory' ? `advisory ${g.id}` : `source ${g.name} ${g.version ?? ''}`.trimEnd());

/** Above a list filtered to one source version or advisory: approve all of it for one of the person's rings, after a review. */
export function groupApprovalForm(ctx: ViewContext, group: PackageGroup, count: number): Html {
  const rings = ringsInScope(ctx, 'approve');
  if (count === 0 || rings.length === 0 || !ctx.canAct) return html``;
  if (group.kind === 'source' && group.version === undefined) return html`<p class="muted">Choose a version of source ${group.name} (a package's page links it) to approve all its binaries at once.</p>`;
  return html`<form class="inline bulk" action="/ui/approvals/confirm" method="get" hx-get="/ui/approvals/confirm" hx-target="#confirm-bulk" hx-swap="outerHTML">
  ${group.kind === 'advisory' ? html`<input type="hidden" name="advisory" value="${group.id}">` : html`<input type="hidden" name="source" value="${`${group.name}@${group.version}`}">`}${group.feed ? html`<input type="hidden" name="feed" value="${group.feed}">` : ''}
  <label>Approve ${label(group)} (${plural(count, 'package')}) for ring <select name="ring" required><option value="">choose a ring</option>${rings.map((r) => html`<option>${r}</option>`)}</select></label>
  <button type="submit">Review approval…</button>
</form>
<div id="confirm-bulk"></div>`;
}

/**
 * The review of a group approval: the packages it approves, those it leaves as they are and
 * why, and each warning the primary's check gives (a dependency the ring will lack, part of an
 * advisory), before the one button that approves them in one append.
 */
export async function groupConfirmFragment(ctx: ViewContext, group: PackageGroup, ring: string): Promise<Html> {
  const { catalog, topology } = ctx.deps;
  if (ring !== RING_ALL && !topology.rings.includes(ring)) throw new SluiceError('UNKNOWN_RING', `choose a ring: "all" or one of ${topology.rings.join(', ')}`);
  requireRings(ctx, 'approve', [ring]);
  if (group.kind === 'source' && group.version === undefined) throw new SluiceError('BAD_REQUEST', `name the source's version: source=${group.name}@VERSION`);
  const advisoryIds = await advisoryMembers(ctx, group);
  const members = (group.kind === 'source' ? catalog.state.fromSource(group.name, group.version!) : [...(advisoryIds ?? [])].flatMap((id) => catalog.state.get(id) ?? [])).filter((p) => inGroup(group, p, advisoryIds));
  if (members.length === 0) throw new SluiceError('PACKAGE_NOT_FOUND', `no package of the catalog belongs to ${label(group)}${group.feed ? ` in feed ${group.feed}` : ''}`);
  const feeds = [...new Set(members.map((p) => p.feedName))];
  if (feeds.length > 1) throw new SluiceError('BAD_REQUEST', `${label(group)} is claimed by feeds ${feeds.join(' and ')}; filter by the feed whose fix this is`);
  const planned = approveManyRecords(catalog, members.map((p) => p.id), ring, topology.rings, ctx.session?.actor ?? '-', new Date().toISOString());
  const would = planned.records.map((r) => (r as { id: string }).id);
  const warnings = would.length ? ((await ctx.deps.approvalCheck?.(would, ring)) ?? []) : [];
  const done = `/ui/packages?${new URLSearchParams(group.kind === 'advisory' ? { advisory: group.id } : { source: `${group.name}@${group.version}` }).toString()}`;
  const body = { ...(group.kind === 'advisory' ? { advisory: group.id } : { source: `${group.name}@${group.version}` }), ...(group.feed ? { feed: group.feed } : {}), ring };
  const bytes = members.filter((p) => would.includes(p.id)).reduce((n, p) => n + p.files.reduce((m, f) => m + f.size, 0), 0);
  return html`<section id="confirm-bulk" class="confirm" tabindex="-1" aria-labelledby="group-title">
<h3 id="group-title">Approve ${label(group)} for ring ${ring}?</h3>
${would.length ? html`<p>${plural(would.length, 'package')}, ${formatBytes(bytes)}, approved together in one step:</p>
<ul class="moves">${would.slice(0, SHOWN).map((id) => html`<li><strong>${id}</strong></li>`)}${would.length > SHOWN ? html`<li>and ${would.length - SHOWN} more</li>` : ''}</ul>` : html`<p class="error">This would change nothing for any machine of ${ring}.</p>`}
${planned.unchanged.length ? html`<p class="muted">Left as they are: ${planned.unchanged.slice(0, SHOWN).map((u, i) => html`${i ? '; ' : ''}${u.id} (${u.code})`)}${planned.unchanged.length > SHOWN ? `; and ${planned.unchanged.length - SHOWN} more` : ''}.</p>` : ''}
${warnings.length ? html`<ul class="warnings" aria-label="Warnings">${warnings.slice(0, SHOWN).map((w) => html`<li class="error">${w.message}</li>`)}</ul>` : ''}
${would.length ? html`<form data-api="${PATHS.approvals}" data-body='${JSON.stringify(body)}' data-done="${done}" data-success="Approved ${label(group)} for ${ring}"><button type="submit">Approve ${would.length} for ${ring}</button> <a href="${done}">Cancel</a></form>` : html`<p><a href="${done}">Back</a></p>`}
</section>`;
}
