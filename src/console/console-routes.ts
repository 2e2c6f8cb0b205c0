import { addressPrefix } from '../auth/address-prefix.js';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConsoleSessions, type ConsoleSession, type SessionEnd } from '../auth/console-sessions.js';
import { OidcSignIn } from './oidc-sign-in.js';
import { roleAllows, rolesFor } from '../auth/roles.js';
import { SignInStarts } from '../auth/sign-in-starts.js';
import { visibleSites } from '../auth/site-scope.js';
import { SluiceError, toSluiceError } from '../errors.js';
import { noneMatchHits } from '../http/conditional.js';
import { SESSION_COOKIE } from '../http/require-token.js';
import type { Html } from './html.js';
import { LIVE_TOPICS, LiveEvents, type LiveTopic } from './live-events.js';
import { complianceCsv, compliancePage, type ComplianceFilter } from './views/compliance.js';
import { bulkConfirmFragment, confirmFragment, packagePage, packagesPage, type PackageFilter } from './views/packages.js';
import { advisoryMembers, groupConfirmFragment, groupOf } from './views/group-approval.js';
import { ringsPage, type RingsFilter } from './views/rings.js';
import { schedulesPage } from './views/schedules.js';
import { errorPage, signInPage, signedInPage } from './views/sign-in.js';
import { treePage } from './views/tree.js';
import type { ConsoleDeps, ViewContext } from './view-context.js';

/** Cookie binding the sign-in form to the browser that loaded it (login CSRF). */
const SIGN_IN_COOKIE = 'sluice_sign_in';
/** Binds a sign-in with the identity provider to the browser that began it (its state). */
const OIDC_STATE_COOKIE = 'sluice_oidc_state';

/**
 * Pages never run inline code or load anything from elsewhere: sites may have no internet,
 * and a package name in the catalog must never be able to run script in an admin's browser.
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

/**
 * The admin console under /ui/: server-rendered pages, htmx and its SSE extension served from
 * the package (no CDN), live updates by server-sent events. Reading uses the node's own data;
 * every action the pages take (publish, approve, decline) is a call to the same /v1 route the
 * CLI uses, with the session standing in for the token (http/require-token.ts).
 */
export function registerConsole(app: FastifyInstance, deps: ConsoleDeps): void {
  let liveFailing = false;
  const live = new LiveEvents({
    ...deps,
    // Logged once per run of failures, not every second.
    onError: (err) => {
      if (!liveFailing) app.log.error({ err }, 'console live update failed; retrying every second');
      liveFailing = true;
    },
  });
  const assets = loadAssets();
  const signInStarts = new SignInStarts((fields, message) => app.log.warn(fields, message));
  app.addHook('preClose', async () => live.close());

  void app.register(async (ui) => {
    // Console forms post urlencoded bodies; only here, so the /v1 API keeps refusing them.
    await ui.register(formbody, { bodyLimit: 64 * 1024 });
    ui.addHook('onSend', async (request, reply) => {
      void reply.headers(SECURITY_HEADERS);
      if (!request.url.startsWith('/ui/assets/')) void reply.header('cache-control', 'no-store');
    });
    // A page asked for with a session that has ended (its token revoked or expired, its role
    // changed, its 8 hours over) goes to the sign-in page, which says why, rather than
    // quietly showing the signed-out view; htmx follows HX-Redirect with a full page load.
    ui.addHook('onRequest', async (request, reply) => {
      const id = request.cookies[SESSION_COOKIE];
      if (id === undefined || request.method !== 'GET' || !/^\/ui\/(?!assets\/|sign-in|events)/.test(request.url)) return;
      const ended = deps.sessions.check(id)?.ended;
      if (!ended) return;
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      const htmx = request.headers['hx-request'] === 'true';
      // For a fragment, the page it was asked for is where to come back to.
      const back = htmx ? pathOf(request.headers['hx-current-url']) : request.url;
      const to = `/ui/sign-in?ended=${ended.reason}&next=${encodeURIComponent(safeNext(back))}`;
      if (htmx) {
        return reply.code(401).header('hx-redirect', to).type('text/html; charset=utf-8').send(errorPage(context(request), 'SESSION_ENDED', ended.message).text);
      }
      return reply.redirect(to, 303);
    });
    ui.setErrorHandler((err, request, reply) => {
      const e = toSluiceError(err, 'console');
      if (e.status >= 500) request.log.error({ err, url: request.url }, 'console request failed');
      void reply.code(e.status).type('text/html; charset=utf-8').send(errorPage(context(request), e.code, e.message).text);
    });

    const context = (request: FastifyRequest): ViewContext => {
      const session = deps.sessions.find(request.cookies[SESSION_COOKIE]);
      const canAct = Boolean(session && deps.node.isPrimary && deps.writer);
      return { deps, session, canAct, may: (action) => canAct && roleAllows(session!.principal.role, action), now: Date.now(), liveVersion: (topic) => live.version(topic) };
    };
    const send = (reply: FastifyReply, view: Html) => reply.type('text/html; charset=utf-8').send(view.text);
    /**
     * Compliance needs a session whose role may read reports, and shows the sites of its
     * scope only, as GET /v1/reports does for the same token.
     */
    const signedIn = (request: FastifyRequest, reply: FastifyReply): ViewContext | undefined => {
      const ctx = context(request);
      if (!ctx.session) {
        void reply.redirect(`/ui/sign-in?next=${encodeURIComponent(request.url)}`, 303);
        return undefined;
      }
      const p = ctx.session.principal;
      if (!roleAllows(p.role, 'reports')) throw new SluiceError('FORBIDDEN_ROLE', `${p.who} has the role ${p.role}, which may not read reports; that needs ${rolesFor('reports').join(' or ')}`);
      const rollup = deps.rollup;
      return { ...ctx, deps: { ...deps, rollup: { ...rollup, accept: rollup.accept.bind(rollup), adoptFile: rollup.adoptFile.bind(rollup), subtree: () => visibleSites(p, rollup.subtree(), deps.topology) } } };
    };

    ui.get('/ui', async (_request, reply) => reply.redirect('/ui/packages', 303));
    ui.get('/ui/', async (_request, reply) => reply.redirect('/ui/packages', 303));

    // Browsers ask for /favicon.ico whatever the page links: the console's icon, not a 404 in every log.
    ui.get('/favicon.ico', async (_request, reply) => reply.redirect('/ui/assets/favicon.svg', 301));
    ui.get('/ui/assets/:name', async (request, reply) => {
      const asset = assets.get((request.params as { name: string }).name);
      if (!asset) throw new SluiceError('ROUTE_NOT_FOUND', 'no such console asset');
      void reply.header('etag', asset.etag).header('cache-control', 'no-cache').type(asset.type);
      if (noneMatchHits(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
      return reply.send(asset.body);
    });

    ui.get('/ui/sign-in', async (request, reply) => {
      const formToken = randomBytes(24).toString('base64url');
      void reply.setCookie(SIGN_IN_COOKIE, formToken, cookieOptions(deps, 600));
      const q = request.query as { next?: string; ended?: string };
      return send(reply, signInPage(context(request), safeNext(q.next), formToken, undefined, endedNotice(q.ended)));
    });

    ui.post('/ui/sign-in', async (request, reply) => {
      const body = (request.body ?? {}) as { token?: unknown; next?: unknown; _csrf?: unknown };
      const next = safeNext(body.next);
      const expected = request.cookies[SIGN_IN_COOKIE];
      const formToken = randomBytes(24).toString('base64url');
      void reply.setCookie(SIGN_IN_COOKIE, formToken, cookieOptions(deps, 600));
      if (!expected || body._csrf !== expected) {
        return send(reply.code(403), signInPage(context(request), next, formToken, 'This sign-in form has expired or did not come from this console. Enter the token again.'));
      }
      try {
        await deps.refusals?.check(request.ip, (s) => void reply.header('retry-after', String(s)));
      } catch (err) {
        const e = toSluiceError(err, 'console sign-in');
        return send(reply.code(e.status), signInPage(context(request), next, formToken, `Not signed in: ${e.message}.`));
      }
      try {
        const session = deps.sessions.signIn(typeof body.token === 'string' ? body.token : '');
        request.log.info({ actor: session.actor }, 'console sign-in');
        await deps.audit.append({ who: session.actor, role: session.principal.role, via: 'session', source: request.ip, act: 'sign-in', target: null, outcome: 'ok' });
        void reply.setCookie(SESSION_COOKIE, session.id, cookieOptions(deps, secondsLeft(session)));
        void reply.clearCookie(SIGN_IN_COOKIE, { path: '/' });
        return reply.redirect(next, 303);
      } catch (err) {
        const e = toSluiceError(err, 'console sign-in', 'FORBIDDEN');
        // Logged with the address, so that someone trying tokens shows up in the node's log.
        request.log.warn({ code: e.code, ip: request.ip }, 'console sign-in refused');
        await deps.refusals?.refused(request.ip, 'admin', request.url, e.code);
        await deps.audit.append({ who: '-', role: null, via: null, source: request.ip, act: 'sign-in', target: null, outcome: e.code });
        return send(reply.code(e.status), signInPage(context(request), next, formToken, e.code === 'UNAUTHORIZED' ? 'Enter your token.' : `Not signed in: ${e.message}.`));
      }
    });

    // Sign-in with the organisation's identity provider (access.signIn): to the provider and back.
    const signInConfig = deps.topology.access.signIn;
    const oidc = signInConfig ? new OidcSignIn({ ...deps.topology.access, signIn: signInConfig }, `${deps.node.url}/ui/sign-in/oidc/callback`, deps.oidcClientSecret) : undefined;
    ui.get('/ui/sign-in/oidc', async (request, reply) => {
      if (!oidc) throw new SluiceError('ROUTE_NOT_FOUND', 'this node has no identity provider (access.signIn in the topology); sign in with a token');
      // Needs no credential and holds a place among the sign-ins in progress: counted per address.
      // Counted per network (an IPv4 /24, an IPv6 /64), not per address: one holder of many
      // addresses is one source.
      const source = addressPrefix(request.ip);
      await signInStarts.begin(source, (s) => void reply.header('retry-after', String(s)));
      const started = await oidc.start(safeNext((request.query as { next?: unknown }).next), source);
      // Lax, not Strict: the browser must send it back when the provider redirects here.
      void reply.setCookie(OIDC_STATE_COOKIE, started.state, { ...cookieOptions(deps, 600), sameSite: 'lax' as const });
      return reply.redirect(started.url, 303);
    });
    ui.get('/ui/sign-in/oidc/callback', async (request, reply) => {
      if (!oidc) throw new SluiceError('ROUTE_NOT_FOUND', 'this node has no identity provider (access.signIn in the topology)');
      void reply.clearCookie(OIDC_STATE_COOKIE, { path: '/' });
      try {
        await deps.refusals?.check(request.ip, (s) => void reply.header('retry-after', String(s)));
        const { principal, groups, next } = await oidc.finish(new URL(request.url, deps.node.url), request.cookies[OIDC_STATE_COOKIE]);
        const session = deps.sessions.open(principal, groups);
        request.log.info({ actor: session.actor, role: principal.role }, 'console sign-in with the identity provider');
        await deps.audit.append({ who: session.actor, role: principal.role, via: 'oidc', source: request.ip, act: 'sign-in', target: null, outcome: 'ok' });
        void reply.setCookie(SESSION_COOKIE, session.id, cookieOptions(deps, secondsLeft(session)));
        // A page of this site moves on, not a redirect: the provider's navigation is cross-site,
        // and the session cookie (SameSite=Strict) rides only on a navigation that starts here.
        return send(reply, signedInPage(context(request), next));
      } catch (err) {
        const e = toSluiceError(err, 'console sign-in with the identity provider', 'UNAUTHORIZED');
        request.log.warn({ code: e.code, ip: request.ip }, 'console sign-in with the identity provider refused');
        if (e.code === 'UNAUTHORIZED') await deps.refusals?.refused(request.ip, 'admin', request.url, e.code);
        await deps.audit.append({ who: '-', role: null, via: 'oidc', source: request.ip, act: 'sign-in', target: null, outcome: e.code });
        const formToken = randomBytes(24).toString('base64url');
        void reply.setCookie(SIGN_IN_COOKIE, formToken, cookieOptions(deps, 600));
        return send(reply.code(e.status), signInPage(context(request), '/ui/packages', formToken, `Not signed in: ${e.message}.`));
      }
    });

    ui.post('/ui/sign-out', async (request, reply) => {
      const ctx = context(request);
      if (ctx.session && !ConsoleSessions.csrfMatches(ctx.session, (request.body as { _csrf?: unknown } | undefined)?._csrf)) {
        throw new SluiceError('CSRF_REJECTED', 'this sign-out did not come from a console page; use the Sign out button');
      }
      deps.sessions.signOut(ctx.session?.id);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.redirect('/ui/sign-in', 303);
    });

    ui.get('/ui/packages', async (request, reply) => {
      const ctx = context(request);
      const q = request.query as PackageFilter;
      // An advisory's packages are read from the feeds (at the primary) before the page renders.
      return send(reply, packagesPage(ctx, q, await advisoryMembers(ctx, groupOf(q))));
    });
    ui.get('/ui/packages/:id', async (request, reply) => {
      const { id } = request.params as { id: string };
      return send(reply, packagePage(context(request), id, (await deps.advisories?.advisoriesOf(id)) ?? []));
    });
    ui.get('/ui/approvals/confirm', async (request, reply) => {
      const ctx = context(request);
      if (!ctx.canAct) throw ctx.session ? new SluiceError('NOT_PRIMARY', 'decisions are made at the primary\'s console') : new SluiceError('UNAUTHORIZED', 'sign in (top right) to approve');
      const q = request.query as PackageFilter & { ring?: string };
      const group = groupOf(q);
      return send(reply, group ? await groupConfirmFragment(ctx, group, q.ring ?? '') : bulkConfirmFragment(ctx, q, q.ring ?? ''));
    });
    ui.get('/ui/packages/:id/confirm', async (request, reply) => {
      const ctx = context(request);
      if (!ctx.canAct) {
        const primary = deps.topology.nodes.get(deps.topology.primary)!;
        throw ctx.session ? new SluiceError('NOT_PRIMARY', `decisions are made at the primary's console: ${primary.url}/ui/`) : new SluiceError('UNAUTHORIZED', 'sign in (top right) to approve or decline');
      }
      const q = request.query as { action?: string; ring?: string };
      const action = q.action === 'decline' || q.action === 'withdraw' ? q.action : 'approve';
      return send(reply, confirmFragment(ctx, (request.params as { id: string }).id, action, q.ring ?? 'all'));
    });
    ui.get('/ui/tree', async (request, reply) => {
      const started = process.hrtime.bigint();
      const view = treePage(context(request));
      // How long the tree took to render, for the browser's network panel and the bench.
      void reply.header('server-timing', `render;dur=${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)}`);
      return send(reply, view);
    });
    ui.get('/ui/compliance', async (request, reply) => {
      const ctx = signedIn(request, reply);
      return ctx ? send(reply, compliancePage(ctx, request.query as ComplianceFilter)) : reply;
    });
    ui.get('/ui/compliance.csv', async (request, reply) => {
      const ctx = signedIn(request, reply);
      if (!ctx) return reply;
      void reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="compliance-${deps.node.name}.csv"`);
      return reply.send(complianceCsv(ctx, request.query as ComplianceFilter));
    });
    // Endpoint figures are reports: the same sign-in and scope as Compliance (GET /v1/rings).
    ui.get('/ui/rings', async (request, reply) => {
      const ctx = signedIn(request, reply);
      return ctx ? send(reply, ringsPage(ctx, request.query as RingsFilter)) : reply;
    });
    ui.get('/ui/schedules', async (request, reply) => send(reply, schedulesPage(context(request))));

    ui.get('/ui/events', async (request, reply) => {
      const q = request.query as { topics?: string; seen?: string };
      const asked = String(q.topics ?? '').split(',');
      const seen = new Map(String(q.seen ?? '').split(',').map((p) => [p.slice(0, p.indexOf(':')), p.slice(p.indexOf(':') + 1)] as [string, string]));
      const topics = new Set(LIVE_TOPICS.filter((t) => asked.includes(t)));
      if (topics.size === 0) throw new SluiceError('BAD_REQUEST', `name the topics to follow: ?topics=${LIVE_TOPICS.join(',')}`);
      // Reports are admin data: without a session, that topic is left out.
      if (!context(request).session) topics.delete('reports' satisfies LiveTopic);
      if (live.full) throw new SluiceError('NOT_READY', 'too many live console pages are open on this node; the page keeps its last view, reload later');
      return reply.type('text/event-stream').header('x-accel-buffering', 'no').send(live.subscribe(topics, seen));
    });
  });
}

/** What the sign-in page says after a session ended (`?ended=`, set by the redirect above): fixed sentences, never text from the address. */
function endedNotice(reason: unknown): string | undefined {
  const notices: Record<SessionEnd, string> = {
    revoked: 'Your console session has ended: the token you signed in with was revoked. Sign in again with a current token.',
    expired: 'Your console session has ended: the token you signed in with has expired. Ask an admin for a new one and sign in again.',
    changed: 'Your console session has ended: your role in this node\'s configuration changed. Sign in again.',
    ended: 'Your console session has ended. Sign in again.',
  };
  return typeof reason === 'string' && Object.hasOwn(notices, reason) ? notices[reason as SessionEnd] : undefined;
}

/** The cookie lives as long as its session: 8 hours, or less when its token expires sooner. */
function secondsLeft(session: ConsoleSession): number {
  return Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000));
}

/** The path and query of a URL a browser sent (HX-Current-URL), or undefined. */
function pathOf(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return undefined;
  }
}

/** Only a path of this console: never another site (open redirect). */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/ui\/[^\\]*$/.test(next) && !next.startsWith('//') ? next : '/ui/packages';
}

function cookieOptions(deps: ConsoleDeps, maxAgeSeconds: number) {
  return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: Boolean(deps.tls), maxAge: maxAgeSeconds };
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** htmx and its SSE extension from the installed packages, the console's own CSS and script from assets/console. */
function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const own = (name: string) => fileURLToPath(new URL(`../../../assets/console/${name}`, import.meta.url));
  const files: [string, string, string][] = [
    ['htmx.min.js', require.resolve('htmx.org/dist/htmx.min.js'), 'text/javascript; charset=utf-8'],
    ['sse.js', require.resolve('htmx-ext-sse/dist/sse.min.js'), 'text/javascript; charset=utf-8'],
    ['console.js', own('console.js'), 'text/javascript; charset=utf-8'],
    ['console.css', own('console.css'), 'text/css; charset=utf-8'],
    ['favicon.svg', own('favicon.svg'), 'image/svg+xml'],
  ];
  return new Map(
    files.map(([name, file, type]) => {
      const body = readFileSync(file);
      return [name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }];
    }),
  );
}
