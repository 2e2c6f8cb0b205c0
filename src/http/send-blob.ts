import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { pipeline } from 'node:stream/promises';
import type { Arrival } from '../download/arrival.js';
import { SluiceError, isSluiceError } from '../errors.js';
import { blobHeaders, type BlobLabel } from './blob-headers.js';
import type { HttpDeps } from './deps.js';
import { peerOf } from './peer.js';
import { planResponse } from './range-plan.js';

/** What answering with a blob uses of the node. */
export type SendBlobDeps = Pick<HttpDeps, 'egress' | 'downloads' | 'metrics' | 'node' | 'peerAuth' | 'store' | 'topology'>;

/** How long a request for a wanted blob waits for this node's own transfer of it to start. */
const LIVE_WAIT_MS = 5000;

/**
 * Answers with blob `sha256` (a valid id): conditional requests, ranges, egress caps and
 * byte counters as for /v1/blobs. With a `label` (another route's file, served only once
 * held), nothing is relayed while it arrives.
 */
export async function sendBlob(request: FastifyRequest, reply: FastifyReply, deps: SendBlobDeps, sha256: string, label?: BlobLabel): Promise<unknown> {
  let size = deps.store.sizeOf(sha256);
  // Not stored yet, but arriving: relay it as it lands (cut-through), waiting briefly for a
  // wanted blob's transfer to start.
  let live: Arrival | undefined;
  if (size === undefined && !label) {
    const answer = await deps.downloads.relay(sha256, LIVE_WAIT_MS);
    if (answer.kind === 'arriving') live = answer.arrival;
    // This node wants it but its own transfer fails: say why, so the node below shows the cause (a vendor file refused at head office) rather than a bare "not stored".
    else if (answer.kind === 'absent' && answer.failed) throw new SluiceError('BLOB_NOT_FOUND', `blob ${sha256} is not stored on node ${deps.node.name}: its own transfer of it fails (${answer.failed.code}: ${answer.failed.message.slice(0, 300)})`);
    else if (answer.kind === 'pending') throw new SluiceError('BLOB_PENDING', `blob ${sha256} is not stored on node ${deps.node.name} yet: the node is fetching it, and its transfer did not start within ${LIVE_WAIT_MS / 1000} s; ask again shortly`);
  }
  if (live) size = live.size;
  // A small blob is not relayed: it may have been stored while the request waited.
  else size ??= deps.store.sizeOf(sha256);
  if (size === undefined) throw new SluiceError('BLOB_NOT_FOUND', `blob ${sha256} is not stored on node ${deps.node.name} (not approved for it, or not replicated yet)`);

  const etag = `"${sha256}"`;
  void reply.headers(blobHeaders(sha256, label));
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
    // Opened before the headers go: a relay whose transfer failed here is answered RELAY_FAILED.
    const reader = live ? await live.open() : undefined;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(plan.status, reply.getHeaders() as OutgoingHttpHeaders);
    const range = { start: plan.start, end: plan.end };
    const onChunk = (n: number) => counter.inc(n);
    const copy = reader && live ? deps.store.withReadBuffers((o) => live.copyTo(reader, raw, range.start, range.end, { ...o, onChunk })).finally(() => reader.close()) : deps.store.copyTo(sha256, raw, range, onChunk);
    // Headers are gone: cutting the connection is how a client learns the body is short.
    copy.then(
      () => raw.end(),
      (err: Error) => {
        if (isSluiceError(err, 'RELAY_FAILED')) request.log.warn({ code: err.code, sha256 }, `relay cut: ${err.message}`);
        raw.destroy(err);
      },
    );
    return reply;
  }
  const file = live ? await live.read(plan.start, plan.end) : deps.store.read(sha256, { start: plan.start, end: plan.end });
  const count = (chunk: Buffer) => counter.inc(chunk.length);
  // Egress caps pace the response. pipeline() destroys the file stream (its descriptor and
  // read-ahead share) when the client goes away; pipe() would leave it open for good.
  const throttled = deps.egress.throttle(charged);
  pipeline(file, throttled).catch(() => undefined);
  const sent = reply.send(throttled);
  throttled.on('data', count);
  return sent;
}
