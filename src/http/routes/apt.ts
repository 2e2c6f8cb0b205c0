import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../errors.js';
import type { AptFileRef, HttpDeps } from '../deps.js';
import { sendBlob, type SendBlobDeps } from '../send-blob.js';
import { PATHS } from '../../protocol/paths.js';

const RING = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The rings' APT repositories for stock clients: `deb [signed-by=…] https://NODE/apt/RING
 * stable main`. GET /apt/key.asc is the repository key to pin; GET /apt/RING/dists/stable/…
 * the ring's signed index (by name, or by hash), /apt/RING/pool/SHA256/NAME a package file.
 * Everything is served unchanged from what the primary signed; apt checks it.
 */
export function registerAptRoutes(app: FastifyInstance, deps: SendBlobDeps & Pick<HttpDeps, 'apt'>): void {
  // The blob route's own answer (conditional requests, ranges for apt's resumes, egress caps,
  // byte counters), labelled as the repository file it is.
  const send = (request: FastifyRequest, reply: FastifyReply, file: AptFileRef | undefined, what: string) => {
    if (!file) throw new SluiceError('ROUTE_NOT_FOUND', `${what} is not served here (no such file, or this node does not hold the ring's index whole yet)`);
    return sendBlob(request, reply, deps, file.sha256, file);
  };
  app.get(PATHS.aptKey, async (request, reply) => send(request, reply, deps.apt?.keyFile(), 'the repository key'));
  app.get(PATHS.aptFile, async (request, reply) => {
    const { ring, '*': rel } = request.params as { ring: string; '*': string };
    if (!RING.test(ring) || rel.length > 300) throw new SluiceError('BAD_REQUEST', 'expected /apt/RING/dists/stable/... or /apt/RING/pool/SHA256/NAME');
    return send(request, reply, deps.apt ? await deps.apt.resolve(ring, rel) : undefined, `/apt/${ring}/${rel}`);
  });
}
