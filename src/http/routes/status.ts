import type { FastifyInstance } from 'fastify';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { nodePush } from '../node-push.js';
import { requireToken } from '../require-token.js';

/** This node's status (with its subtree), pushes from downstream nodes, verify, metrics. */
export function registerStatusRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'children' | 'metrics' | 'status' | 'tokens' | 'verify' | 'peerAuth'>): void {
  app.get(PATHS.status, async () => deps.status());
  // A downstream node reports its status (and its subtree's) here.
  app.post(PATHS.status, ...nodePush(deps, 'status', (body, caller) => deps.children.accept(body, caller)));
  app.post('/v1/verify', { onRequest: requireToken(deps.tokens) }, async () => deps.verify());
  app.get('/metrics', async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.scrape();
  });
}
