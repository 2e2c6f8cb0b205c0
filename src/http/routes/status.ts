import type { FastifyInstance } from 'fastify';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { nodePush } from '../node-push.js';

/** This node's status (with its subtree), and the pushes of downstream nodes. */
export function registerStatusRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'children' | 'metrics' | 'status' | 'peerAuth' | 'refusals'>): void {
  app.get(PATHS.status, async () => deps.status());
  // A downstream node reports its status (and its subtree's) here.
  app.post(PATHS.status, ...nodePush(deps, 'status', (body, caller) => deps.children.accept(body, caller)));
}
