import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CredentialKind, RefusalThrottle } from '../auth/refusal-throttle.js';
import type {} from '@fastify/cookie';
import type { AdminTokens } from '../auth/admin-tokens.js';
import { ConsoleSessions } from '../auth/console-sessions.js';
import type { Credentials } from '../auth/credentials.js';
import { actionWords, refusalOf, roleAllows, rolesFor, type Action, type Principal } from '../auth/roles.js';
import { SluiceError } from '../errors.js';

const actors = new WeakMap<FastifyRequest, string>();
const principals = new WeakMap<FastifyRequest, Principal>();
/** The act a request attempts and what it targets, for the audit trail (http/audit-hook.ts). */
const acts = new WeakMap<FastifyRequest, { act: Action; target: string | null }>();

/** The console's session cookie (console/console-routes.ts sets it). */
export const SESSION_COOKIE = 'sluice_session';
/** Header a console page sends its session's form token in. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * The `onRequest` hook for endpoint reports: a token from SLUICE_ENDPOINT_TOKEN, checked
 * before the body is read. 401 without a token, 403 with a wrong one.
 */
export function requireToken(tokens: AdminTokens, refusals: RefusalThrottle | undefined, kind: CredentialKind): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return throttled(refusals, kind, async (request) => {
    actors.set(request, tokens.authenticate(request.headers.authorization));
  });
}

/** What the role hooks need. */
export interface RoleDeps {
  readonly credentials: Credentials;
  readonly sessions: ConsoleSessions;
  readonly refusals?: RefusalThrottle;
}

/**
 * The one `onRequest` hook for administrative calls: who the caller is (a named token, a
 * token from SLUICE_ADMIN_TOKEN, or a console session with its form token) and whether its
 * role may take `action` at all — before the body is read, so a refused upload costs
 * nothing. Acts on a ring or node are checked again by the handler against the scope
 * (`authorize`), once it knows the ring. 401 without credentials, 403 FORBIDDEN with wrong
 * ones, 401 SESSION_ENDED for a console session that may no longer act, 403 FORBIDDEN_ROLE
 * when the role lacks the act.
 *
 * A console session stands in for the bearer token, so the console goes through the very
 * routes and rules the CLI uses. A request that changes state must then also carry the
 * session's form token in `X-CSRF-Token`: the cookie alone is what a forged cross-site form
 * would carry.
 */
export function requireRole(deps: RoleDeps, action: Action): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return throttled(deps.refusals, 'admin', async (request) => {
    acts.set(request, { act: action, target: null });
    const principal = authenticate(deps, request);
    principals.set(request, principal);
    if (!roleAllows(principal.role, action)) throw forbidden(principal, action);
  });
}

/** Checks the caller's scope for an act on `target`; throws 403 FORBIDDEN_ROLE outside it. */
export function authorize(request: FastifyRequest, action: Action, target: { rings?: readonly string[]; node?: string }): void {
  const p = principalOf(request);
  const why = refusalOf(p, action, target);
  if (why) throw new SluiceError('FORBIDDEN_ROLE', `${why}; nothing was changed (an admin can give a token whose scope covers it: "sluice token add NAME --role ${p.role} ...")`);
}

/** Names what the request acted on, for its audit entry. */
export function auditTarget(request: FastifyRequest, target: string): void {
  const a = acts.get(request);
  if (a) a.target = target.slice(0, 200);
}

/** The audited act of a request, if it is one. */
export function actOf(request: FastifyRequest): { act: Action; target: string | null } | undefined {
  return acts.get(request);
}

/** The authenticated caller of an administrative request. */
export function principalOf(request: FastifyRequest): Principal {
  const p = principals.get(request);
  if (!p) throw new Error('principalOf: the route has no requireRole hook');
  return p;
}

/**
 * The caller if it authenticated, or whom an ended console session was (so the entry of the
 * act it was refused names them); other refused requests have none.
 */
export function maybePrincipalOf(request: FastifyRequest): Principal | undefined {
  return principals.get(request);
}

/** Who made an authenticated request (a named token's name, NAME of a NAME=TOKEN entry, or token:HASH). */
export function actorOf(request: FastifyRequest): string {
  const actor = principals.get(request)?.who ?? actors.get(request);
  if (actor === undefined) throw new Error('actorOf: the route has no requireRole or requireToken hook');
  return actor;
}

function authenticate(deps: RoleDeps, request: FastifyRequest): Principal {
  const cookie = !request.headers.authorization ? request.cookies?.[SESSION_COOKIE] : undefined;
  if (cookie !== undefined) {
    // Checked again against its token (or the topology's grant) on every request: a revoked
    // or expired token ends the session here, not hours later.
    const { session, ended } = deps.sessions.check(cookie)!;
    if (!session) {
      // The refused act's audit entry names whom the session was, when this node knows.
      if (ended.principal) principals.set(request, ended.principal);
      throw new SluiceError('SESSION_ENDED', ended.message);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD' && !ConsoleSessions.csrfMatches(session, request.headers[CSRF_HEADER])) {
      throw new SluiceError('CSRF_REJECTED', 'this request carries the console session but not its form token; reload the console page and try again');
    }
    return session.principal;
  }
  return deps.credentials.authenticate(request.headers.authorization);
}

function forbidden(p: Principal, action: Action): SluiceError {
  return new SluiceError('FORBIDDEN_ROLE', `${p.who} has the role ${p.role}, which may not ${actionWords(action)}; that needs ${rolesFor(action).join(' or ')} (ask an admin: "sluice token add NAME --role ${rolesFor(action).find((r) => r !== 'admin') ?? 'admin'}")`);
}

/**
 * Wrong or missing credentials count against the caller's address; past the limit it is
 * answered 429 before its token is looked at (auth/refusal-throttle.ts). A role refusal is
 * not a wrong credential and does not count.
 */
function throttled(refusals: RefusalThrottle | undefined, kind: CredentialKind, check: (request: FastifyRequest) => Promise<void>): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  if (!refusals) return async (request) => check(request);
  return async (request, reply) => {
    await refusals.check(request.ip, (s) => void reply.header('retry-after', String(s)));
    try {
      await check(request);
    } catch (err) {
      if (err instanceof SluiceError && (err.code === 'UNAUTHORIZED' || err.code === 'FORBIDDEN' || err.code === 'TOKEN_EXPIRED' || err.code === 'SESSION_ENDED')) await refusals.refused(request.ip, kind, request.url, err.code);
      throw err;
    }
  };
}
