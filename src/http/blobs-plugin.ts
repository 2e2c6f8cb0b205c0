import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { SHA256_PATTERN } from '../catalog/records.js';
import { SluiceError } from '../errors.js';
import { BATCH_PENDING_HEADER, BLOB_BATCH_MAX, BLOB_BATCH_TYPE, frameHeader } from '../protocol/blob-batch.js';
import { PATHS } from '../protocol/paths.js';
import { PACKED_BLOB_MAX } from '../store/blob-sizes.js';
import { blobFastPath, type BlobFastPath } from './blob-fast-path.js';
import type { HttpDeps } from './deps.js';
import { peerOf } from './peer.js';
import { auditTarget, authorize, requireRole } from './require-token.js';
import { sendBlob } from './send-blob.js';

/** What the blob routes use of the node. */
export type BlobDeps = Pick<HttpDeps, 'catalog' | 'egress' | 'downloads' | 'metrics' | 'node' | 'peerAuth' | 'store' | 'credentials' | 'refusals' | 'sessions' | 'topology' | 'writer' | 'checkRestored'>;

/**
 * Everything about /v1/blobs in one plugin: GET/HEAD of a blob (the route, and the fast path
 * the server runs before the framework), the batch of small blobs, the admin's restore with
 * its own body parser (a restore's body is the blob, streamed to the store, never buffered;
 * the parser stays inside this plugin). Blobs are immutable and named by their hash, so the
 * hash is a strong validator and an answer may be cached for good.
 */
export function blobsPlugin(deps: BlobDeps): { readonly plugin: FastifyPluginAsync; readonly fastPath: BlobFastPath } {
  const fastPath = blobFastPath(deps);
  const plugin: FastifyPluginAsync = async (app) => {
    const handler = (request: FastifyRequest, reply: FastifyReply) => serveBlob(request, reply, deps);
    app.get(PATHS.blob, handler);
    app.head(PATHS.blob, handler);
    app.post(PATHS.blobBatch, (request, reply) => serveBatch(request, reply, deps));
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    app.put(PATHS.blob, { onRequest: requireRole(deps, 'restore') }, (request) => {
      authorize(request, 'restore', { node: deps.node.name });
      auditTarget(request, (request.params as { sha256: string }).sha256);
      return restoreBlob(request, deps);
    });
  };
  return { plugin, fastPath };
}

/**
 * PUT /v1/blobs/SHA256 (admin, primary): puts back the file of a catalogued blob that the
 * primary lost (disk failure, quarantined by verify). Only a blob the catalog names and the
 * store lacks is accepted, only if the body hashes to it, and a feed's file only if it passes
 * the feed's check (an RPM feed's package signature): nothing new enters this way.
 */
async function restoreBlob(request: FastifyRequest, deps: BlobDeps): Promise<unknown> {
  const { sha256 } = request.params as { sha256: string };
  if (!SHA256_PATTERN.test(sha256)) throw new SluiceError('INVALID_BLOB_ID', `"${sha256.slice(0, 80)}" is not a blob id; expected 64 lowercase hex digits (a sha256)`);
  if (!deps.writer) throw new SluiceError('NOT_PRIMARY', `node ${deps.node.name} is not the primary; restore blobs on the primary, downstream nodes fetch them again by themselves`);
  const size = catalogSize(deps, sha256);
  if (size === undefined) throw new SluiceError('BLOB_NOT_FOUND', `no package in the catalog names blob ${sha256}; publish new files with "sluice publish"`);
  if (deps.store.has(sha256)) return { sha256, size, restored: false };
  if (!(request.body instanceof Readable)) throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', 'send the file as the body with Content-Type: application/octet-stream');
  const staged = await deps.store.stage(request.body, { maxBytes: size });
  if (staged.sha256 !== sha256 || staged.size !== size) {
    await deps.store.discard(staged);
    throw new SluiceError('HASH_MISMATCH', `the uploaded bytes hash to ${staged.sha256} (${staged.size} bytes), not to blob ${sha256} (${size} bytes); restore the original file`);
  }
  // A feed's file passes what it would have passed coming from the vendor (an RPM feed's
  // package signature): a restore is no way around the check.
  try {
    await deps.checkRestored?.(sha256, staged.tmpPath);
  } catch (err) {
    await deps.store.discard(staged);
    throw err;
  }
  await deps.store.commit([staged]);
  request.log.info({ sha256, size }, 'lost blob restored');
  return { sha256, size, restored: true };
}

function catalogSize(deps: BlobDeps, sha256: string): number | undefined {
  for (const pkg of deps.catalog.state.all()) for (const f of pkg.files) if (f.sha256 === sha256) return f.size;
  return undefined;
}

const batchSchema = z.object({ sha256: z.array(z.string().regex(SHA256_PATTERN)).min(1).max(BLOB_BATCH_MAX) }).strict();

/**
 * POST /v1/blobs/batch: many small blobs in one response (protocol/blob-batch.ts), so a
 * downstream node does not pay a request per 16 KiB blob. Blobs are public like GET; frames
 * are produced as they are read (neighbours in a pack read together, at most 256 KiB at once).
 * A blob this node is fetching itself is marked so for a caller that understands it: that
 * caller asks again shortly, as after a relay that has not started, and records no error.
 */
async function serveBatch(request: FastifyRequest, reply: FastifyReply, deps: BlobDeps): Promise<unknown> {
  const parsed = batchSchema.safeParse(request.body);
  if (!parsed.success) throw new SluiceError('BAD_REQUEST', `expected { "sha256": [1 to ${BLOB_BATCH_MAX} blob ids] }; ${parsed.error.issues[0]?.path.join('.') || 'body'}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const peer = deps.peerAuth.certifiedNode(request) ?? peerOf(request, deps.topology);
  const counter = deps.metrics.transferBytes.labels({ direction: 'out', peer });
  const store = deps.store;
  const pendingKnown = request.headers[BATCH_PENDING_HEADER] !== undefined;
  async function* frames() {
    for await (const [sha256, bytes] of store.readSmallInOrder(parsed.data!.sha256, PACKED_BLOB_MAX)) {
      yield frameHeader(sha256, bytes ? bytes.length : pendingKnown && deps.downloads.pending(sha256) ? 'pending' : 'missing');
      if (bytes) {
        counter.inc(bytes.length);
        yield bytes;
      }
    }
  }
  const body = Readable.from(frames(), { objectMode: false });
  void reply.type(BLOB_BATCH_TYPE).header('cache-control', 'no-store');
  if (!deps.egress.limited) return reply.send(body);
  const paced = deps.egress.throttle(peer);
  pipeline(body, paced).catch(() => undefined);
  return reply.send(paced);
}


async function serveBlob(request: FastifyRequest, reply: FastifyReply, deps: BlobDeps): Promise<unknown> {
  const { sha256 } = request.params as { sha256: string };
  // Reject before any file access: the id becomes a path.
  if (!SHA256_PATTERN.test(sha256)) throw new SluiceError('INVALID_BLOB_ID', `"${sha256.slice(0, 80)}" is not a blob id; expected 64 lowercase hex digits (a sha256)`);
  return sendBlob(request, reply, deps, sha256);
}
