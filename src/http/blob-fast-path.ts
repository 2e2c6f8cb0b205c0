import type { IncomingMessage, ServerResponse } from 'node:http';
import { PATHS } from '../protocol/paths.js';
import type { HttpDeps } from './deps.js';
import { peerOf } from './peer.js';
import { HOT_BLOB_MAX } from '../store/blob-sizes.js';
import { wholeBlobHeaders } from './blob-headers.js';

const BLOB_PATH = new RegExp(`^${PATHS.blob.replace(':sha256', '([0-9a-f]{64})')}$`);

/** The fast path's request handler, and how many of its answers are still being sent. */
export interface BlobFastPath {
  /** True when the request was answered here; false sends it on to the framework. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Large blobs still streaming (a clean shutdown waits for them as for routed requests). */
  inFlight(): number;
}

/**
 * The most frequent requests a node answers, answered before the framework: a plain GET or
 * HEAD of a whole stored blob. Measured with wrk on 2 cores, the router, hooks and reply
 * objects cost more than a small blob's answer itself (16 KiB blobs: 10k req/s through the
 * route, see docs/benchmarks.md), and a large blob goes out through reused buffers
 * (store copyTo) rather than a stream allocating one per chunk. Small blobs are answered
 * here once in memory; the first request for one goes to the route, which reads it in.
 * Anything else — ranges, conditional requests, a blob not stored (perhaps arriving: the
 * route relays it), egress caps or a pace, a query string — returns false and goes to the route,
 * which gives the same answer for the same request.
 */
export function blobFastPath(deps: Pick<HttpDeps, 'store' | 'egress' | 'metrics' | 'topology' | 'peerAuth'>): BlobFastPath {
  let streaming = 0;
  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const h = req.headers;
    if (h.range !== undefined || h['if-none-match'] !== undefined || h['if-range'] !== undefined) return false;
    const m = BLOB_PATH.exec(req.url ?? '');
    if (!m) return false;
    const sha256 = m[1]!;
    const body = deps.store.cachedSmall(sha256);
    const size = body?.length ?? deps.store.sizeOf(sha256);
    if (size === undefined || (!body && size <= HOT_BLOB_MAX)) return false;
    // A verified certificate names the peer; otherwise the header's claim (metric labels only).
    const peer = deps.peerAuth.certifiedNodeOf(req.socket) ?? peerOf(req, deps.topology);
    // Caps and a background child's pace are applied by the route.
    if (deps.egress.active && deps.egress.limitedFor(deps.peerAuth.provenNodeOf(req) ?? 'endpoint')) return false;
    res.writeHead(200, wholeBlobHeaders(sha256, size));
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const counter = deps.metrics.transferBytes.labels({ direction: 'out', peer });
    if (body) {
      counter.inc(body.length);
      res.end(body);
      return true;
    }
    streaming++;
    deps.store.copyTo(sha256, res, undefined, (n) => counter.inc(n)).then(
      () => res.end(),
      // Headers are gone: cutting the connection is how a client learns the body is short.
      (err: Error) => res.destroy(err),
    ).finally(() => streaming--);
    return true;
  };
  return { handle, inFlight: () => streaming };
}
