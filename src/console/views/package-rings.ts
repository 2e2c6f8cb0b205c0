import type { PackageView } from '../../catalog/catalog-state.js';
import { RING_ALL } from '../../catalog/records.js';
import { html, type Html } from '../html.js';
import { utc } from '../layout.js';
import { mayOnRings } from '../ring-scope.js';
import type { ViewContext } from '../view-context.js';

/**
 * A package ring by ring: whether the ring's machines receive it, or which successor replaced
 * it there, and (primary, signed in) a withdraw of the ring's own approval for each ring the
 * person may act on. A ring changes only by an act on that ring, so this is where one ring is
 * taken back without touching the others.
 */
export function packageRingsSection(ctx: ViewContext, p: PackageView): Html {
  const { catalog, topology } = ctx.deps;
  const rings = [...topology.rings.filter((r) => r !== RING_ALL), RING_ALL];
  const id = encodeURIComponent(p.id);
  const rows = rings.map((ring) => {
    const state = catalog.state.stateFor(p, ring);
    const own = p.approvals.get(ring);
    const by = state === 'superseded' ? catalog.state.supersededFor(p, ring)! : undefined;
    const what =
      state === 'approved'
        ? html`<span class="state state-approved">receives it</span>${own ? '' : html` <span class="muted">through its approval for all</span>`}`
        : state === 'superseded'
          ? html`<span class="state state-superseded">replaced</span> by <a href="/ui/packages/${encodeURIComponent(by!)}">${by}</a>`
          : state === 'declined'
            ? html`<span class="state state-declined">declined</span> everywhere`
            : html`<span class="muted">not approved for it</span>`;
    const withdraw =
      own && ctx.canAct && mayOnRings(ctx, 'decline', [ring])
        ? html`<form class="inline" action="/ui/packages/${id}/confirm" method="get" hx-get="/ui/packages/${id}/confirm" hx-target="#confirm" hx-swap="outerHTML">
  <input type="hidden" name="action" value="withdraw"><input type="hidden" name="ring" value="${ring}">
  <button type="submit" class="secondary" aria-label="Review withdrawing the approval for ${ring}">Withdraw…</button>
</form>`
        : '';
    return html`<tr data-ring="${ring}"><th scope="row">${ring === RING_ALL ? html`all <span class="muted">(machines of no ring)</span>` : ring}</th><td>${what}</td><td>${own ? html`${utc(own.at)} by ${own.by}` : '–'}</td>${ctx.canAct ? html`<td>${withdraw}</td>` : ''}</tr>`;
  });
  // The region's name avoids the word "ring": the approve form's select is labelled "Ring".
  return html`<h2>By ring</h2>
<div class="table-wrap" tabindex="0" role="region" aria-label="Where it goes">
<table class="package-rings">
<thead><tr><th scope="col">Ring</th><th scope="col">Its machines</th><th scope="col">Approved for it</th>${ctx.canAct ? html`<th scope="col">Action</th>` : ''}</tr></thead>
<tbody>${rows}</tbody>
</table>
</div>`;
}
