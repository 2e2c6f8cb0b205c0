import type { IncomingMessage, ServerResponse } from 'node:http';
import { PATHS } from '../protocol/paths.js';
import type { HttpDeps } from './deps.js';
import { peerOf } from './peer.js';

/** The headers every whole-blob answer carries (the blob route sends the same). */
export function blobHeaders(sha256: string, length: number): Record<string, string> {
  return {
    etag: `"${sha256}"`,
    'accept-ranges': 'bytes',
    'cache-control': 'public, max-age=31536000, immutable',
    'content-type': 'application/octet-stream',
    'content-length': String(length),
  };
}

const BLOB_PATH = new RegExp(`^${PATHS.blob.replace(':sha256', '([0-9a-f]{64})')}$`);

/**
 * The most frequent request a node answers, answered before the framework: a plain GET or
 * HEAD of a whole small blob that is in memory. Measured with wrk on 2 cores, the router,
 * hooks and reply objects cost more than the answer itself (16 KiB blobs: 10k req/s through
 * the route, see docs/benchmarks.md). Anything else — ranges, conditional requests, a blob
 * not in memory or not stored, egress caps, a query string — returns false and goes to the
 * route, which gives the same answer for the same request.
 */
export function blobFastPath(deps: Pick<HttpDeps, 'store' | 'egress' | 'metrics' | 'topology' | 'peerAuth'>): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || deps.egress.limited) return false;
    const h = req.headers;
    if (h.range !== undefined || h['if-none-match'] !== undefined || h['if-range'] !== undefined) return false;
    const m = BLOB_PATH.exec(req.url ?? '');
    if (!m) return false;
    const sha256 = m[1]!;
    const body = deps.store.cachedSmall(sha256);
    if (!body) return false;
    res.writeHead(200, blobHeaders(sha256, body.length));
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const peer = deps.peerAuth.certifiedNodeOf(req.socket) ?? peerOf(req, deps.topology);
    deps.metrics.transferBytes.labels({ direction: 'out', peer }).inc(body.length);
    res.end(body);
    return true;
  };
}
