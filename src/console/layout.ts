import { html, type Html } from './html.js';
import type { LiveTopicName, ViewContext } from './view-context.js';

export type ViewName = 'packages' | 'rings' | 'tree' | 'compliance' | 'schedules';

const VIEWS: readonly { name: ViewName; title: string }[] = [
  { name: 'packages', title: 'Packages' },
  { name: 'rings', title: 'Rings' },
  { name: 'tree', title: 'Tree' },
  { name: 'compliance', title: 'Compliance' },
  { name: 'schedules', title: 'Schedules and forecast' },
];

/**
 * The page around every view: navigation, who is signed in, and the live-update connection.
 * `live` lists the server-sent events the view listens to (console/live-events.ts); htmx's
 * SSE extension keeps one connection per page open on <main>.
 */
export function page(ctx: ViewContext, view: ViewName | 'sign-in', title: string, body: Html, live: readonly LiveTopicName[] = []): Html {
  const { node } = ctx.deps;
  const role = node.isPrimary ? 'primary' : 'downstream node, read-only';
  const events = live.length ? `/ui/events?topics=${live.join(',')}&seen=${live.map((t) => `${t}:${ctx.liveVersion(t)}`).join(',')}` : undefined;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Sluice ${node.name}</title>
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}'>
${ctx.session ? html`<meta name="csrf-token" content="${ctx.session.csrf}">` : ''}
<link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/assets/console.css">
<script src="/ui/assets/htmx.min.js" defer></script>
<script src="/ui/assets/sse.js" defer></script>
<script src="/ui/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <div class="brand"><strong>Sluice</strong> <span>${node.name} · ${role}</span></div>
  <nav aria-label="Views"><ul>
    ${VIEWS.map((v) => html`<li><a href="/ui/${v.name}"${v.name === view ? html` aria-current="page"` : ''}>${v.title}</a></li>`)}
  </ul></nav>
  <div class="who">${
    ctx.session
      ? html`<span>Signed in as <strong>${ctx.session.actor}</strong></span>
    <form method="post" action="/ui/sign-out"><input type="hidden" name="_csrf" value="${ctx.session.csrf}"><button type="submit" class="link">Sign out</button></form>`
      : view === 'sign-in'
        ? ''
        : html`<a href="/ui/sign-in?next=${encodeURIComponent(`/ui/${view}`)}">Sign in</a>`
  }</div>
</header>
<main id="main" tabindex="-1"${events ? html` hx-ext="sse" sse-connect="${events}"` : ''}>
${body}
</main>
<div id="toast" class="toast" role="status" aria-live="polite"></div>
</body>
</html>
`;
}

/** A count with its noun: `1 file`, `3 files`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A time as UTC, minutes precision: `2026-11-27 14:05Z`. */
export function utc(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return '–';
  const d = typeof iso === 'number' ? new Date(iso) : new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : `${d.toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

/** A time in a region's own time zone: `Fri 27 Nov 15:05 Europe/Berlin`. */
export function localTime(ms: number, timeZone: string): string {
  const f = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
  return `${f.format(new Date(ms)).replace(',', '')} ${timeZone}`;
}
