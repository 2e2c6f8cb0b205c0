import type { FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { PushRefused } from '../protocol/push.js';
import type { NodeCaller } from './peer-auth.js';
import { HTTP_LIMITS, type HttpDeps } from './deps.js';

const callers = new WeakMap<FastifyRequest, NodeCaller>();

/**
 * Route options and handler for a push from a downstream node (status, report rollups): the
 * caller is proven before the body is read (certificate or per-node token), then `accept`
 * applies the subtree rule. A refusal answers 403, is counted by reason, and is logged once
 * per peer and reason.
 */
export function nodePush(deps: Pick<HttpDeps, 'metrics' | 'peerAuth'>, kind: 'status' | 'reports' | 'audit', accept: (body: unknown, caller: string | undefined) => void): [RouteShorthandOptions, (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>] {
  const options: RouteShorthandOptions = {
    bodyLimit: HTTP_LIMITS.pushBodyBytes,
    onRequest: async (request, reply) => void callers.set(request, await deps.peerAuth.authenticateThrottled(request, reply)),
  };
  const handler = async (request: FastifyRequest) => {
    const caller = callers.get(request)!;
    deps.metrics.pushBytes.inc({ kind }, Number(request.headers['content-length'] ?? 0) || 0);
    try {
      accept(request.body, caller.node);
    } catch (err) {
      if (err instanceof PushRefused) {
        const peer = caller.node ?? String((request.body as { node?: unknown } | undefined)?.node ?? 'unknown');
        deps.metrics.pushesRefused.inc({ reason: err.reason });
        if (deps.peerAuth.firstRefusal(peer, err.reason)) request.log.warn({ peer, reason: err.reason, via: caller.via, url: request.url }, `push refused: ${err.message}`);
      }
      throw err;
    }
    return { ok: true };
  };
  return [options, handler];
}
