import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { peerOf } from '../peer.js';
import { NODE_HEADER } from '../../protocol/headers.js';

/**
 * GET /v1/pace?rate=N: a downstream node in background mode asks this node to send to it at
 * N bytes/s (0: no pace), and reads the path's delay from how long the answer takes. Only a
 * proven node (certificate or peer token) whose upstream or fallback is this node may set
 * its own pace: anyone else could slow a branch's transfers down.
 */
export function registerPaceRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'egress' | 'node' | 'peerAuth' | 'topology'>): void {
  app.get(PATHS.pace, async (request, reply) => {
    const caller = await deps.peerAuth.authenticateThrottled(request, reply);
    // The tree-wide token of earlier versions names no node: then the header's claim.
    const name = caller.node ?? peerOf(request, deps.topology);
    const spec = deps.topology.nodes.get(name);
    if (!spec) throw new SluiceError('FORBIDDEN', `the caller names no node of the topology; call with the node's certificate or its own peer token, or name it in the ${NODE_HEADER} header`);
    if ( (spec.upstream !== deps.node.name && !spec.fallback.includes(deps.node.name))) {
      throw new SluiceError('FORBIDDEN', `node ${name} does not fetch from ${deps.node.name} (not its upstream or fallback), so it has no pace here`);
    }
    const raw = (request.query as { rate?: string }).rate ?? '';
    const rate = Number(raw);
    if (!/^\d{1,12}$/.test(raw) || !Number.isSafeInteger(rate)) throw new SluiceError('BAD_REQUEST', 'expected ?rate= a whole number of bytes per second (0 for no pace)');
    deps.egress.pace(name, rate);
    return { node: deps.node.name, peer: name, pace: rate };
  });
}
