import type { FastifyInstance } from 'fastify';
import { PATHS } from '../../protocol/paths.js';
import { SluiceError } from '../../errors.js';
import { noneMatchHits } from '../conditional.js';
import type { HttpDeps } from '../deps.js';

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * GET /v1/updates?platform=P&language=L&ring=R: what an endpoint should install, from this
 * node (catalog/updates-cache.ts decides what is listed). The answer carries a strong ETag; an agent
 * that sends it back in If-None-Match gets 304 with no body while nothing changed. The
 * endpoint checks everything against the signed catalog itself.
 */
export function registerUpdateRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'node' | 'updates'>): void {
  app.get(PATHS.updates, async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    for (const key of ['platform', 'language', 'ring'] as const) {
      const v = q[key];
      if (v !== undefined && !LABEL.test(v)) throw new SluiceError('BAD_REQUEST', `"${key}" must be a label of letters, digits, ".", "_" or "-", got "${v.slice(0, 40)}"`);
    }
    // Without a ring an endpoint belongs to its node's rings.
    const answer = deps.updates.answer({ rings: q.ring ? [q.ring] : [...deps.node.rings], platform: q.platform, language: q.language });
    // A proxy may keep it but must ask again each time: approvals change what applies.
    void reply.header('etag', answer.etag).header('cache-control', 'no-cache');
    if (noneMatchHits(request.headers['if-none-match'], answer.etag)) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(answer.json);
  });
}
