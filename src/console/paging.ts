import { html, type Html } from './html.js';

/** Rows per page in the console's long lists (packages, compliance): a catalog may hold 100,000 packages. */
export const PAGE_ROWS = 200;

export interface Page<T> {
  readonly rows: readonly T[];
  /** 1-based. */
  readonly page: number;
  readonly pages: number;
  readonly total: number;
}

/** The rows of page `requested` (1-based; out of range or not a number: the nearest page). */
export function pageOf<T>(all: readonly T[], requested: unknown, size = PAGE_ROWS): Page<T> {
  const pages = Math.max(1, Math.ceil(all.length / size));
  const n = Math.min(pages, Math.max(1, Math.floor(Number(requested) || 1)));
  return { rows: all.slice((n - 1) * size, n * size), page: n, pages, total: all.length };
}

/** "Rows 201–400 of 1,234" with previous/next links that keep the rest of the query. */
export function pageNav(p: Page<unknown>, path: string, query: Record<string, string | undefined>): Html {
  if (p.pages <= 1) return html``;
  const link = (n: number) => {
    const q = new URLSearchParams(Object.entries({ ...query, page: String(n) }).filter(([, v]) => v) as [string, string][]);
    return `${path}?${q}`;
  };
  const first = (p.page - 1) * PAGE_ROWS + 1;
  const last = first + p.rows.length - 1;
  return html`<nav class="pager" aria-label="Pages"><span>Rows ${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${p.total.toLocaleString('en')}</span>
${p.page > 1 ? html`<a href="${link(p.page - 1)}" rel="prev">← Previous</a>` : ''}
${p.page < p.pages ? html`<a href="${link(p.page + 1)}" rel="next">Next →</a>` : ''}</nav>`;
}
