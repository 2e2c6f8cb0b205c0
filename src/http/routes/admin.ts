import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { auditTarget, authorize, requireRole } from '../require-token.js';

/** An admin's maintenance of this node: re-hash the store, take an export from its disk. */
export function registerAdminRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'metrics' | 'node' | 'credentials' | 'refusals' | 'sessions' | 'verify' | 'importExport'>): void {
  // An operator's scope names nodes: these act on this one.
  app.post(PATHS.verify, { onRequest: requireRole(deps, 'verify') }, async (request) => {
    authorize(request, 'verify', { node: deps.node.name });
    return deps.verify();
  });
  /** Takes an export from a directory on this node's host (sluice import). */
  app.post(PATHS.import, { onRequest: requireRole(deps, 'import') }, async (request) => {
    authorize(request, 'import', { node: deps.node.name });
    const body = (request.body ?? {}) as { dir?: unknown; maxAgeSeconds?: unknown };
    const dir = body.dir;
    if (typeof dir !== 'string' || !dir.startsWith('/') || dir.length > 4096) throw new SluiceError('BAD_REQUEST', 'expected { "dir": "/absolute/path/of/the/export", "maxAgeSeconds"?: N } on this node\'s host');
    const maxAge = body.maxAgeSeconds;
    if (maxAge !== undefined && !(typeof maxAge === 'number' && Number.isSafeInteger(maxAge) && maxAge >= 0)) throw new SluiceError('BAD_REQUEST', '"maxAgeSeconds" must be a whole number of seconds');
    auditTarget(request, dir);
    return deps.importExport(dir, maxAge === undefined ? undefined : maxAge * 1000);
  });
}
