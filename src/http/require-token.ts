import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CredentialKind, RefusalThrottle } from '../auth/refusal-throttle.js';
import type {} from '@fastify/cookie';
import type { AdminTokens } from '../auth/admin-tokens.js';
import { ConsoleSessions } from '../auth/console-sessions.js';
import { SluiceError } from '../errors.js';

const actors = new WeakMap<FastifyRequest, string>();

/** The console's session cookie (console/console-routes.ts sets it). */
export const SESSION_COOKIE = 'sluice_session';
/** Header a console page sends its session's form token in. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * The one `onRequest` hook for calls that need a token (admin, endpoint reports): checked
 * before the body is read, so an unauthenticated upload costs nothing. 401 without a token,
 * 403 with a wrong one. The actor it names is kept for the handler (`actorOf`).
 *
 * With `sessions` (admin calls), a console session may stand in for the bearer token, so the
 * console goes through the very routes and rules the CLI uses. A request that changes state
 * must then also carry the session's form token in `X-CSRF-Token`: the cookie alone is what a
 * forged cross-site form would carry.
 */
export function requireToken(tokens: AdminTokens, sessions?: ConsoleSessions, refusals?: RefusalThrottle, kind: CredentialKind = 'admin'): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const check = requireTokenOnce(tokens, sessions);
  if (!refusals) return check;
  // Wrong or missing credentials count against the caller's address; past the limit it is
  // answered 429 before its token is looked at (auth/refusal-throttle.ts).
  return async (request, reply) => {
    await refusals.check(request.ip, (s) => void reply.header('retry-after', String(s)));
    try {
      await check(request, reply);
    } catch (err) {
      if (err instanceof SluiceError && (err.code === 'UNAUTHORIZED' || err.code === 'FORBIDDEN')) await refusals.refused(request.ip, kind, request.url, err.code);
      throw err;
    }
  };
}

function requireTokenOnce(tokens: AdminTokens, sessions?: ConsoleSessions): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request) => {
    const cookie = sessions && !request.headers.authorization ? request.cookies?.[SESSION_COOKIE] : undefined;
    if (sessions && cookie !== undefined) {
      const session = sessions.find(cookie);
      if (!session) throw new SluiceError('UNAUTHORIZED', 'the console session has expired or was signed out; sign in again at /ui/sign-in');
      if (request.method !== 'GET' && request.method !== 'HEAD' && !ConsoleSessions.csrfMatches(session, request.headers[CSRF_HEADER])) {
        throw new SluiceError('CSRF_REJECTED', 'this request carries the console session but not its form token; reload the console page and try again');
      }
      actors.set(request, session.actor);
      return;
    }
    actors.set(request, tokens.authenticate(request.headers.authorization));
  };
}

/** Who made an authenticated request (the NAME of a NAME=TOKEN entry, or token:HASH). */
export function actorOf(request: FastifyRequest): string {
  const actor = actors.get(request);
  if (actor === undefined) throw new Error('actorOf: the route has no requireToken hook');
  return actor;
}

/** The hook for administrative calls: an admin bearer token, or a console session with its form token. */
export function requireAdmin(deps: { tokens: AdminTokens; sessions: ConsoleSessions; refusals?: RefusalThrottle }): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return requireToken(deps.tokens, deps.sessions, deps.refusals, 'admin');
}
