import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../errors.js';
import type { AptFileRef, HttpDeps } from '../deps.js';
import { sendBlob, type SendBlobDeps } from '../send-blob.js';
import { PATHS } from '../../protocol/paths.js';

const RING = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The rings' APT and dnf repositories for stock clients: an endpoint's `.sources` (made at head office
 * by `sluice apt-source`) points at https://NODE/apt/RING with the ring's key inline.
 * GET /apt/RING/dists/SUITE/… is the ring's signed index of a vendor suite (by name, or by hash),
 * /apt/RING/pool/SHA256/NAME a package file the ring's index lists, /apt/RING/key.asc the
 * ring's public key (for comparing fingerprints). Everything is served unchanged from what
 * the primary signed; apt checks it.
 */
export function registerAptRoutes(app: FastifyInstance, deps: SendBlobDeps & Pick<HttpDeps, 'apt' | 'rpm'>): void {
  // The blob route's own answer (conditional requests, ranges for apt's resumes, egress caps,
  // byte counters), labelled as the repository file it is.
  const send = (request: FastifyRequest, reply: FastifyReply, file: AptFileRef | undefined, what: string) => {
    if (!file) throw new SluiceError('ROUTE_NOT_FOUND', `${what} is not served here (no such file in the ring's index, or this node does not hold the ring's index whole yet)`);
    return sendBlob(request, reply, deps, file.sha256, file);
  };
  // One key for every ring let a hub hand one ring's index to another ring's machines: each
  // ring has its own key now, and an endpoint gets it from head office, not from a node.
  app.get(PATHS.aptKey, async () => {
    throw new SluiceError('ROUTE_NOT_FOUND', 'each ring has its own repository key: give an endpoint its .sources file made at head office with "sluice apt-source --ring RING --server URL" (the key inline); /apt/RING/key.asc shows a ring\'s key for comparing fingerprints');
  });
  app.get(PATHS.aptFile, async (request, reply) => {
    const { ring, '*': rel } = request.params as { ring: string; '*': string };
    if (!RING.test(ring) || rel.length > 300) throw new SluiceError('BAD_REQUEST', 'expected /apt/RING/dists/SUITE/..., /apt/RING/pool/SHA256/NAME or /apt/RING/key.asc');
    const file = deps.apt ? await deps.apt.resolve(ring, rel) : undefined;
    const held = deps.apt?.ringsHeld() ?? [];
    // A ring this node has no index of is said as such: a machine's source naming the wrong node or ring.
    if (!file && !held.includes(ring)) throw new SluiceError('ROUTE_NOT_FOUND', `this node has no APT repository of ring ${ring} (it has: ${held.join(', ') || 'none yet'}); the machine's source names another ring's node, or a ring whose index the primary has not signed yet`);
    return send(request, reply, file, `/apt/${ring}/${rel}`);
  });
  // The rings' dnf repositories: an endpoint's .repo file (made at head office by `sluice
  // rpm-repo`) points at https://NODE/rpm/RING/REPO, gpgcheck and repo_gpgcheck on, the keys
  // beside it. /rpm/RING/REPO/repodata/… is the ring's signed repodata of a vendor repository,
  // /rpm/RING/REPO/pool/SHA256/NAME.rpm a package its primary.xml lists, /rpm/RING/key.asc the
  // ring's public key. Served unchanged from what the primary signed; dnf checks it.
  app.get(PATHS.rpmFile, async (request, reply) => {
    const { ring, '*': rel } = request.params as { ring: string; '*': string };
    if (!RING.test(ring) || rel.length > 300) throw new SluiceError('BAD_REQUEST', 'expected /rpm/RING/REPO/repodata/..., /rpm/RING/REPO/pool/SHA256/NAME or /rpm/RING/key.asc');
    const file = deps.rpm ? await deps.rpm.resolve(ring, rel) : undefined;
    const held = deps.rpm?.ringsHeld() ?? [];
    if (!file && !held.includes(ring)) throw new SluiceError('ROUTE_NOT_FOUND', `this node has no dnf repository of ring ${ring} (it has: ${held.join(', ') || 'none yet'}); the machine's .repo names another ring's node, or a ring whose repository the primary has not signed yet`);
    return send(request, reply, file, `/rpm/${ring}/${rel}`);
  });
}
