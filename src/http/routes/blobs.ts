import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { noneMatchHits } from '../conditional.js';
import parseRange from 'range-parser';
import { z } from 'zod';
import { SHA256_PATTERN } from '../../catalog/records.js';
import { BLOB_BATCH_MAX, BLOB_BATCH_TYPE, frameHeader } from '../../protocol/blob-batch.js';
import { PACKED_BLOB_MAX } from '../../store/fs-blob-store.js';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { requireAdmin } from '../require-token.js';
import type { LiveTransfer } from '../../transfer/live-transfer.js';
import { peerOf } from '../peer.js';

/** What the blob routes use of the node. */
export type BlobDeps = Pick<HttpDeps, 'catalog' | 'egress' | 'liveTransfer' | 'metrics' | 'node' | 'peerAuth' | 'store' | 'tokens' | 'refusals' | 'sessions' | 'topology' | 'writer'>;

/**
 * GET/HEAD /v1/blobs/SHA256. Blobs are immutable and named by their hash, so the hash is a
 * strong validator and the response may be cached forever.
 */
export function registerBlobRoutes(app: FastifyInstance, deps: BlobDeps): void {
  const handler = (request: FastifyRequest, reply: FastifyReply) => serveBlob(request, reply, deps);
  app.get(PATHS.blob, handler);
  app.head(PATHS.blob, handler);
  app.post(PATHS.blobBatch, (request, reply) => serveBatch(request, reply, deps));
  // The body of a restore is the blob itself, streamed to the store (never buffered).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  app.put(PATHS.blob, { onRequest: requireAdmin(deps) }, (request) => restoreBlob(request, deps));
}

/**
 * PUT /v1/blobs/SHA256 (admin, primary): puts back the file of a catalogued blob that the
 * primary lost (disk failure, quarantined by verify). Only a blob the catalog names and the
 * store lacks is accepted, and only if the body hashes to it: nothing new enters this way.
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
 */
async function serveBatch(request: FastifyRequest, reply: FastifyReply, deps: BlobDeps): Promise<unknown> {
  const parsed = batchSchema.safeParse(request.body);
  if (!parsed.success) throw new SluiceError('BAD_REQUEST', `expected { "sha256": [1 to ${BLOB_BATCH_MAX} blob ids] }; ${parsed.error.issues[0]?.path.join('.') || 'body'}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const peer = deps.peerAuth.certifiedNode(request) ?? peerOf(request, deps.topology);
  const counter = deps.metrics.transferBytes.labels({ direction: 'out', peer });
  const store = deps.store;
  async function* frames() {
    for await (const [sha256, bytes] of store.readSmallInOrder(parsed.data!.sha256, PACKED_BLOB_MAX)) {
      yield frameHeader(sha256, bytes?.length);
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

/** How long a request for a wanted blob waits for this node's own transfer of it to start. */
const LIVE_WAIT_MS = 5000;

type Plan = { status: 200 | 206; start: number; end: number } | { status: 304 } | { status: 416 };

async function serveBlob(request: FastifyRequest, reply: FastifyReply, deps: BlobDeps): Promise<unknown> {
  const { sha256 } = request.params as { sha256: string };
  // Reject before any file access: the id becomes a path.
  if (!SHA256_PATTERN.test(sha256)) throw new SluiceError('INVALID_BLOB_ID', `"${sha256.slice(0, 80)}" is not a blob id; expected 64 lowercase hex digits (a sha256)`);
  return sendBlob(request, reply, deps, sha256);
}

/** How another route (the APT repository) labels a blob it answers with. */
export interface BlobLabel {
  readonly contentType: string;
  /** Whether caches may keep it for good (named by its hash) or must ask again (an index file by name). */
  readonly immutable: boolean;
}

/**
 * Answers with blob `sha256` (a valid id): conditional requests, ranges, egress caps and
 * byte counters as for /v1/blobs. With a `label` (another route's file, served only once
 * held), nothing is relayed while it arrives.
 */
export async function sendBlob(request: FastifyRequest, reply: FastifyReply, deps: BlobDeps, sha256: string, label?: BlobLabel): Promise<unknown> {
  let size = deps.store.sizeOf(sha256);
  // Not stored yet, but arriving: relay it as it lands (cut-through), waiting briefly for a
  // wanted blob's transfer to start.
  const live = size === undefined && !label ? await deps.liveTransfer(sha256, LIVE_WAIT_MS) : undefined;
  if (live) size = live.size;
  // A small blob is not relayed: it may have been stored while the request waited.
  else size ??= deps.store.sizeOf(sha256);
  if (size === undefined) throw new SluiceError('BLOB_NOT_FOUND', `blob ${sha256} is not stored on node ${deps.node.name} (not approved for it, or not replicated yet)`);

  const etag = `"${sha256}"`;
  void reply
    .header('etag', etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', label && !label.immutable ? 'no-cache' : 'public, max-age=31536000, immutable')
    .type(label?.contentType ?? 'application/octet-stream');
  const plan = planResponse(request.headers, etag, size);
  if (plan.status === 304) return reply.code(304).send();
  if (plan.status === 416) {
    // RFC 9110 §15.5.17: a 416 "SHOULD generate a Content-Range header field specifying the current length".
    void reply.header('content-range', `bytes */${size}`);
    throw new SluiceError('RANGE_NOT_SATISFIABLE', `the requested range is outside blob ${sha256} of ${size} bytes`);
  }
  const length = plan.end - plan.start + 1;
  void reply.code(plan.status).header('content-length', String(length));
  if (plan.status === 206) void reply.header('content-range', `bytes ${plan.start}-${plan.end}/${size}`);
  if (request.method === 'HEAD' || length === 0) return reply.send();

  // A verified certificate names the peer; otherwise the header's claim (metric labels only).
  const peer = deps.peerAuth.certifiedNode(request) ?? peerOf(request, deps.topology);
  const counter = deps.metrics.transferBytes.labels({ direction: 'out', peer });
  // Budgets and paces are charged to a proven node only; the header's claim labels metrics.
  const charged = deps.egress.active ? (deps.peerAuth.provenNodeOf(request.raw) ?? 'endpoint') : 'endpoint';
  const paced = deps.egress.limitedFor(charged);
  if (!live && !paced) {
    const small = await deps.store.readSmall(sha256);
    if (small) {
      counter.inc(length);
      return reply.send(plan.start === 0 && plan.end === small.length - 1 ? small : small.subarray(plan.start, plan.end + 1));
    }
  }
  // A relayed range that stops before the last byte is sent unverified: no cache may keep it.
  if (live && plan.end < size - 1) void reply.header('cache-control', 'no-store');
  if (!paced) {
    // Unpaced, the bytes go out through the store's reused buffers (store/copy-file-range.ts):
    // a stream allocating a buffer per chunk costs collections that halve the rate.
    const fh = live ? await openLive(live) : undefined;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(plan.status, reply.getHeaders() as OutgoingHttpHeaders);
    const range = { start: plan.start, end: plan.end };
    const onChunk = (n: number) => counter.inc(n);
    const copy = fh && live ? deps.store.withReadBuffers((o) => live.copyTo(fh, raw, range.start, range.end, { ...o, onChunk })).finally(() => fh.close()) : deps.store.copyTo(sha256, raw, range, onChunk);
    // Headers are gone: cutting the connection is how a client learns the body is short.
    copy.then(() => raw.end(), (err: Error) => raw.destroy(err));
    return reply;
  }
  const relayed = live ? await openLiveStream(live, plan.start, plan.end) : undefined;
  const file = relayed ?? deps.store.read(sha256, { start: plan.start, end: plan.end });
  const count = (chunk: Buffer) => counter.inc(chunk.length);
  // Egress caps pace the response. pipeline() destroys the file stream (its descriptor and
  // read-ahead share) when the client goes away; pipe() would leave it open for good.
  const throttled = deps.egress.throttle(charged);
  pipeline(file, throttled).catch(() => undefined);
  const sent = reply.send(throttled);
  throttled.on('data', count);
  return sent;
}

/** Decides 200 / 206 / 304 / 416 from the request headers (RFC 9110 §13, §14). */
export function planResponse(headers: Record<string, string | string[] | undefined>, etag: string, size: number): Plan {
  const full: Plan = { status: 200, start: 0, end: size - 1 };
  if (noneMatchHits(headers['if-none-match'], etag)) return { status: 304 };
  const range = headers.range;
  if (typeof range !== 'string') return full;
  // §13.1.5: "If the validator given in the If-Range header field matches the current
  // validator ... the server SHOULD process the Range header field"; otherwise it MUST
  // ignore it. Only a strong ETag can match: we send no Last-Modified, so a date never does.
  const ifRange = headers['if-range'];
  if (typeof ifRange === 'string' && ifRange.trim() !== etag) return full;
  // Invalid or of another unit: §14.2 lets a server ignore Range; the client gets the whole blob.
  if (!isValidByteRanges(range)) return full;
  const parsed = parseRange(size, range, { combine: true });
  if (parsed === -2) return full;
  if (parsed === -1) return { status: 416 };
  // Several disjoint ranges would need multipart/byteranges; transfers never ask for them.
  if (parsed.type !== 'bytes' || parsed.length !== 1) return full;
  const r = parsed[0]!;
  return { status: 206, start: r.start, end: r.end };
}

/**
 * §14.1.1: ranges-specifier syntax, and "A byte-range-spec is invalid if the last-pos
 * value is present and less than the first-pos." Invalid is not unsatisfiable: it is ignored.
 */
function isValidByteRanges(header: string): boolean {
  const m = /^bytes=(.+)$/.exec(header.trim());
  if (!m) return false;
  return m[1]!.split(',').every((spec) => {
    const r = /^\s*(?:(\d+)-(\d*)|-(\d+))\s*$/.exec(spec);
    return r !== null && (r[2] === undefined || r[2] === '' || Number(r[2]) >= Number(r[1]));
  });
}

/** The live partial, or undefined if it was just renamed into the store (read it from there). */
async function openLive(live: LiveTransfer) {
  return live.open().catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && live.state === 'stored') return undefined;
    throw err;
  });
}

/** The same as a stream, for paced responses. */
async function openLiveStream(live: LiveTransfer, start: number, end: number) {
  try {
    return await live.read(start, end);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && live.state === 'stored') return undefined;
    throw err;
  }
}
