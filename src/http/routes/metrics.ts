import type { FastifyInstance } from 'fastify';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';

/** The Prometheus exposition (unauthenticated, like node exporters; restrict it at the network). */
export function registerMetricsRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'metrics'>): void {
  app.get(PATHS.metrics, async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.scrape();
  });
}
