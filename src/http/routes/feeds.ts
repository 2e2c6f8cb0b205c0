import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { requireRole } from '../require-token.js';

/**
 * GET /v1/feeds: the vendor feeds the primary follows, with each one's last sync (admin).
 * POST /v1/feeds/NAME/sync: sync one now and answer with what it added (admin, primary).
 */
export function registerFeedRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'feeds' | 'node' | 'credentials' | 'sessions' | 'refusals'>): void {
  const admin = requireRole(deps, 'feeds');
  app.get(PATHS.feeds, { onRequest: admin }, async () => ({ node: deps.node.name, feeds: deps.feeds ? await deps.feeds.list() : [] }));
  app.post(PATHS.feedSync, { onRequest: admin }, async (request) => {
    if (!deps.node.isPrimary) throw new SluiceError('NOT_PRIMARY', `node ${deps.node.name} is not the primary: feeds are synced by the primary`);
    const name = (request.params as { name: string }).name;
    if (!deps.feeds) throw new SluiceError('FEED_NOT_FOUND', `no feed "${name}": the topology has no feeds`);
    return deps.feeds.syncNow(name);
  });
}
