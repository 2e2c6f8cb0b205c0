import type { FastifyRequest } from 'fastify';
import type { Topology } from '../topology/types.js';

/** Header a Sluice node sends so its upstream can attribute traffic to it. */
export const NODE_HEADER = 'x-sluice-node';

/** Metric label for the peer: a topology node name, or "endpoint" (bounded cardinality). */
export function peerOf(request: FastifyRequest, topology: Topology): string {
  const claimed = request.headers[NODE_HEADER];
  return typeof claimed === 'string' && topology.nodes.has(claimed) ? claimed : 'endpoint';
}
