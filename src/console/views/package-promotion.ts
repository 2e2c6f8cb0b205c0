import type { PackageView } from '../../catalog/catalog-state.js';
import { html, type Html } from '../html.js';
import { utc } from '../layout.js';
import type { ViewContext } from '../view-context.js';

/**
 * A package at a ring's promotion gate: when it will move on to the next ring, or why not
 * yet (held by failures, waiting for time or reports), and the promotions made with the
 * report figures they were decided on. The primary's view only; nothing here when no gate
 * concerns the package.
 */
export function packagePromotionSection(ctx: ViewContext, p: PackageView): Html {
  const view = ctx.deps.promotions?.view();
  if (!view) return html``;
  const pending = view.pending.filter((v) => v.package === p.id);
  const decided = view.decided.filter((d) => d.package === p.id);
  if (pending.length === 0 && decided.length === 0) return html``;
  return html`<h2>Promotion</h2>
<ul class="moves" aria-label="Promotion gates">
${pending.map((v) => html`<li data-gate="${v.from}-${v.to}"><strong>${v.from} → ${v.to}</strong>: <span class="state state-${v.state === 'held' ? 'declined' : v.state === 'ready' ? 'approved' : 'new'}">${v.state}</span> ${v.reason}</li>`)}
${decided.map((d) => html`<li><strong>${d.from} → ${d.to}</strong>: promoted ${utc(d.at)} by ${d.by}: ${d.evidence.succeeded} of ${d.evidence.clients} ${d.from} clients succeeded, ${d.evidence.failed} failed (${Object.entries(d.evidence.sites).map(([site, e]) => `${site} ${e.succeeded}/${e.clients}`).join(', ') || 'no site'})</li>`)}
</ul>`;
}
