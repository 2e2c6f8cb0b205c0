import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { requireAdmin } from '../require-token.js';

/** An admin's maintenance of this node: re-hash the store, take an export from its disk. */
export function registerAdminRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'metrics' | 'tokens' | 'refusals' | 'sessions' | 'verify' | 'importExport'>): void {
  app.post(PATHS.verify, { onRequest: requireAdmin(deps) }, async () => deps.verify());
  /** Takes an export from a directory on this node's host (sluice import). */
  app.post(PATHS.import, { onRequest: requireAdmin(deps) }, async (request) => {
    const body = (request.body ?? {}) as { dir?: unknown; maxAgeSeconds?: unknown };
    const dir = body.dir;
    if (typeof dir !== 'string' || !dir.startsWith('/') || dir.length > 4096) throw new SluiceError('BAD_REQUEST', 'expected { "dir": "/absolute/path/of/the/export", "maxAgeSeconds"?: N } on this node\'s host');
    const maxAge = body.maxAgeSeconds;
    if (maxAge !== undefined && !(typeof maxAge === 'number' && Number.isSafeInteger(maxAge) && maxAge >= 0)) throw new SluiceError('BAD_REQUEST', '"maxAgeSeconds" must be a whole number of seconds');
    return deps.importExport(dir, maxAge === undefined ? undefined : maxAge * 1000);
  });
}
