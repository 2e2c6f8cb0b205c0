import type { FastifyRequest } from 'fastify';
import { NODE_HEADER } from '../protocol/headers.js';
import type { Topology } from '../topology/types.js';

/** Metric label for the peer: a topology node name, or "endpoint" (bounded cardinality). */
export function peerOf(request: Pick<FastifyRequest, 'headers'>, topology: Topology): string {
  const claimed = request.headers[NODE_HEADER];
  return typeof claimed === 'string' && topology.nodes.has(claimed) ? claimed : 'endpoint';
}
