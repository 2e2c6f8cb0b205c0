import type { FastifyRequest } from 'fastify';
import type { AdminTokens } from '../auth/admin-tokens.js';

const actors = new WeakMap<FastifyRequest, string>();

/**
 * The one `onRequest` hook for calls that need a token (admin, endpoint reports): checked
 * before the body is read, so an unauthenticated upload costs nothing. 401 without a token,
 * 403 with a wrong one. The actor it names is kept for the handler (`actorOf`).
 */
export function requireToken(tokens: AdminTokens): (request: FastifyRequest) => Promise<void> {
  return async (request) => void actors.set(request, tokens.authenticate(request.headers.authorization));
}

/** Who made an authenticated request (the NAME of a NAME=TOKEN entry, or token:HASH). */
export function actorOf(request: FastifyRequest): string {
  const actor = actors.get(request);
  if (actor === undefined) throw new Error('actorOf: the route has no requireToken hook');
  return actor;
}
