import { SluiceError } from '../../errors.js';
import type { FastifyInstance } from 'fastify';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { nodePush } from '../node-push.js';
import { requireAdmin } from '../require-token.js';

/** This node's status (with its subtree), pushes from downstream nodes, verify, metrics. */
export function registerStatusRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'children' | 'metrics' | 'status' | 'tokens' | 'refusals' | 'sessions' | 'verify' | 'peerAuth' | 'importExport'>): void {
  app.get(PATHS.status, async () => deps.status());
  // A downstream node reports its status (and its subtree's) here.
  app.post(PATHS.status, ...nodePush(deps, 'status', (body, caller) => deps.children.accept(body, caller)));
  app.post(PATHS.verify, { onRequest: requireAdmin(deps) }, async () => deps.verify());
  /** Takes an export from a directory on this node's host (sluice import); admin. */
  app.post(PATHS.import, { onRequest: requireAdmin(deps) }, async (request) => {
    const body = (request.body ?? {}) as { dir?: unknown; maxAgeSeconds?: unknown };
    const dir = body.dir;
    if (typeof dir !== 'string' || !dir.startsWith('/') || dir.length > 4096) throw new SluiceError('BAD_REQUEST', 'expected { "dir": "/absolute/path/of/the/export", "maxAgeSeconds"?: N } on this node\'s host');
    const maxAge = body.maxAgeSeconds;
    if (maxAge !== undefined && !(typeof maxAge === 'number' && Number.isSafeInteger(maxAge) && maxAge >= 0)) throw new SluiceError('BAD_REQUEST', '"maxAgeSeconds" must be a whole number of seconds');
    return deps.importExport(dir, maxAge === undefined ? undefined : maxAge * 1000);
  });
  app.get(PATHS.metrics, async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.scrape();
  });
}
