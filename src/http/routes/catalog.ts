import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { compactRecord } from '../../catalog/verify-page.js';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import { HTTP_LIMITS, type HttpDeps } from '../deps.js';
import { intParam } from '../params.js';
import { NODE_HEADER } from '../../protocol/headers.js';

/**
 * GET /v1/catalog?after=SEQ&wait=SECONDS&limit=N[&compact=1] → { records, head, more } (gzip when asked).
 * With nothing after SEQ it holds the request up to `wait` seconds and answers as soon as a
 * record lands. Records and head are sent as stored (compact: without `prev` and `hash`,
 * which the receiver derives as it checks the chain), so relays cannot alter them without
 * breaking the chain or the signature.
 */
export function registerCatalogRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'catalog' | 'idleTimeoutMs' | 'node' | 'topology'>): void {
  const gzipAsync = promisify(gzip);
  // Nodes found ahead of this primary, warned about once each (they ask every few seconds).
  const warnedAhead = new Set<string>();
  app.get(PATHS.catalog, async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    const after = intParam(q, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    const waitSec = intParam(q, 'wait', 0, 0, HTTP_LIMITS.maxWaitSeconds);
    const limit = intParam(q, 'limit', HTTP_LIMITS.defaultCatalogPage, 1, HTTP_LIMITS.maxCatalogPage);
    if (after > deps.catalog.seq && deps.node.isPrimary) {
      // A node ahead of its primary: the primary went back (restored from an older backup), or
      // the node follows another tree. Said where both operators look: this answer and the log.
      // The route is public: only a name of the topology is echoed or remembered (one warning per
      // node, one for every other caller), so made-up headers can neither grow memory nor the log.
      const claimed = request.headers[NODE_HEADER];
      const caller = typeof claimed === 'string' && deps.topology.nodes.has(claimed) ? claimed : undefined;
      const message = `behind the node: run "sluice recover --from ${caller ?? 'NODE'}" on this stopped primary (restored from an older backup?); after=${after} is beyond its newest record (${deps.catalog.seq}), or the node follows another primary`;
      if (!warnedAhead.has(caller ?? '')) {
        warnedAhead.add(caller ?? '');
        request.log.warn({ peer: caller ?? 'unknown', after, seq: deps.catalog.seq }, message);
      }
      throw new SluiceError('BAD_REQUEST', message);
    }
    // A node that has not verified any catalog yet holds the poll too, rather than failing it.
    if (waitSec > 0 && (deps.catalog.seq <= after || !deps.catalog.head)) {
      const aborted = new AbortController();
      request.raw.once('close', () => aborted.abort());
      // A held poll is idle by design: its wait comes on top of the idle cut-off.
      request.raw.socket.setTimeout(waitSec * 1000 + deps.idleTimeoutMs);
      await deps.catalog.waitForRecords(after, waitSec * 1000, aborted.signal);
    }
    // The head is taken first and the records read up to it: the page is consistent even
    // when an append lands while the records are being read.
    const head = deps.catalog.head;
    const timestamp = deps.catalog.timestamp;
    if (!head) throw new SluiceError('NOT_READY', `node ${deps.node.name} holds no verified catalog yet; retry shortly`);
    const records = await deps.catalog.read(after, limit + 1, head.seq);
    const more = records.length > limit;
    if (more) records.pop();
    // The timestamp is relayed as verified: it proves to the next tier that this is current.
    const page = { records: q.compact === '1' ? records.map(compactRecord) : records, head, ...(timestamp ? { timestamp } : {}), more };
    // Large pages go compressed to clients that take gzip (every node and agent of this
    // version): a catalog record is mostly text and hex, about a third of its size gzipped.
    const json = JSON.stringify(page);
    if (json.length < 16 * 1024 || !/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) return reply.type('application/json; charset=utf-8').send(json);
    const zipped = await gzipAsync(json, { level: 4 });
    return reply.type('application/json; charset=utf-8').header('content-encoding', 'gzip').header('vary', 'accept-encoding').send(zipped);
  });
}
