import { PATHS } from '../../protocol/paths.js';
import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../errors.js';
import type { HttpDeps } from '../deps.js';

export function registerHealthRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'catalog' | 'isReady' | 'node'>): void {
  app.get(PATHS.healthz, async () => ({ status: 'ok', node: deps.node.name }));
  app.get(PATHS.readyz, async () => {
    const r = deps.isReady();
    if (!r.ready) throw new SluiceError('NOT_READY', `node ${deps.node.name} is not ready: ${r.reason ?? 'starting'}`);
    return { status: 'ready', node: deps.node.name, catalogSeq: deps.catalog.seq };
  });
}
