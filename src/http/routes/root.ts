import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { actorOf, requireRole } from '../require-token.js';

/**
 * GET /v1/root: the root of trust in force here (its signed document; version 1 of a single
 * catalogKey has none). POST /v1/root (admin, primary): put the next root in force, the
 * document signed offline by a threshold of the current and of its own root keys.
 */
export function registerRootRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'catalog' | 'node' | 'credentials' | 'refusals' | 'sessions' | 'writer' | 'apt' | 'rpm'>): void {
  app.get(PATHS.root, async () => {
    const root = deps.catalog.root;
    // The rings' repository key fingerprints as the signed catalog names them: what a person
    // compares with the Signed-By key of an endpoint's .sources file, or the ring's key beside
    // its .repo file (one key per ring signs both its APT and its dnf repositories).
    const aptKeys = deps.apt ? await deps.apt.ringKeyFingerprints() : [];
    for (const k of deps.rpm ? await deps.rpm.ringKeyFingerprints() : []) if (!aptKeys.some((a) => a.ring === k.ring)) aptKeys.push(k);
    aptKeys.sort((a, b) => (a.ring < b.ring ? -1 : a.ring > b.ring ? 1 : 0));
    return { version: root.version, expires: root.expires, root: root.doc ?? root.body, aptKeys };
  });
  app.post(PATHS.root, { onRequest: requireRole(deps, 'root') }, async (request) => {
    if (!deps.writer) throw new SluiceError('NOT_PRIMARY', `node ${deps.node.name} is not the primary; apply roots on the primary, every other node follows them through the catalog`);
    return deps.writer.applyRoot(request.body, actorOf(request));
  });
}
