import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../errors.js';
import type { AptFileRef, HttpDeps } from '../deps.js';

const RING = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The rings' APT repositories for stock clients: `deb [signed-by=…] https://NODE/apt/RING
 * stable main`. GET /apt/key.asc is the repository key to pin; GET /apt/RING/dists/stable/…
 * the ring's signed index (by name, or by hash), /apt/RING/pool/SHA256/NAME a package file.
 * Everything is served unchanged from what the primary signed; apt checks it.
 */
export function registerAptRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'apt' | 'store'>): void {
  const send = (request: FastifyRequest, reply: FastifyReply, file: AptFileRef | undefined, what: string) => {
    if (!file) throw new SluiceError('ROUTE_NOT_FOUND', `${what} is not served here (no such file, or this node does not hold the ring's index whole yet)`);
    void reply
      .header('content-type', file.contentType)
      .header('content-length', String(file.size))
      .header('etag', `"${file.sha256}"`)
      // An index file by name changes with each signature: caches ask again; by hash never changes.
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (request.headers['if-none-match'] === `"${file.sha256}"`) return reply.code(304).send();
    if (request.method === 'HEAD') return reply.send();
    return reply.send(deps.store.read(file.sha256));
  };
  app.get('/apt/key.asc', async (request, reply) => send(request, reply, deps.apt?.keyFile(), 'the repository key'));
  app.get('/apt/:ring/*', async (request, reply) => {
    const { ring, '*': rel } = request.params as { ring: string; '*': string };
    if (!RING.test(ring) || rel.length > 300) throw new SluiceError('BAD_REQUEST', 'expected /apt/RING/dists/stable/... or /apt/RING/pool/SHA256/NAME');
    return send(request, reply, deps.apt ? await deps.apt.resolve(ring, rel) : undefined, `/apt/${ring}/${rel}`);
  });
}
