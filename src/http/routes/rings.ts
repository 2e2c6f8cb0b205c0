import type { FastifyInstance } from 'fastify';
import { visibleSites } from '../../auth/site-scope.js';
import { RING_ALL } from '../../catalog/records.js';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { StatusJson } from '../../protocol/status-text.js';
import { RINGS_PAGE, ringsView } from '../../reports/rings-view.js';
import type { HttpDeps } from '../deps.js';
import { principalOf, requireRole } from '../require-token.js';

/**
 * GET /v1/rings: per ring, what its machines receive now, which nodes hold it and how its
 * endpoints did (reports/rings-view.ts), a page of package names at a time. Endpoint figures
 * are reports, so it is read with the role that reads reports, and an auditor or operator
 * counts the sites of its scope only.
 */
export function registerRingRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'node' | 'catalog' | 'topology' | 'status' | 'rollup' | 'credentials' | 'refusals' | 'sessions'>): void {
  app.get(PATHS.rings, { onRequest: requireRole(deps, 'reports') }, async (request) => {
    const query = request.query as { ring?: unknown; q?: unknown; offset?: unknown; limit?: unknown };
    const ring = query.ring === undefined || query.ring === '' ? undefined : String(query.ring);
    if (ring !== undefined && ring !== RING_ALL && !deps.topology.rings.includes(ring)) {
      throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring.slice(0, 64)}"; expected "all" or one of: ${deps.topology.rings.join(', ') || '(no rings in the topology)'}`);
    }
    if (query.q !== undefined && (typeof query.q !== 'string' || query.q.length > 200)) throw new SluiceError('BAD_REQUEST', '"q" is text to look for in package names, at most 200 characters');
    const offset = wholeNumber(query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const limit = wholeNumber(query.limit, 'limit', 1, RINGS_PAGE.max);
    const sites = visibleSites(principalOf(request), deps.rollup.subtree(), deps.topology);
    return {
      node: deps.node.name,
      at: new Date().toISOString(),
      catalogSeq: deps.catalog.seq,
      ...ringsView({ catalog: deps.catalog.state, topology: deps.topology, status: deps.status() as StatusJson, sites }, { ring, q: query.q as string | undefined, offset, limit }),
    };
  });
}

function wholeNumber(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v) || n < min || n > max) throw new SluiceError('BAD_REQUEST', `"${name}" must be a whole number from ${min} to ${max}`);
  return n;
}
