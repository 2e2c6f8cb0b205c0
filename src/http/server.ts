import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import type { AdminTokens } from '../auth/admin-tokens.js';
import type { TLSSocket } from 'node:tls';
import { nodeNameOf, tlsFailureReason, type TlsFailureReason } from '../tls/node-identity.js';
import type { TlsMaterial } from '../tls/tls-files.js';
import { nodePush } from './node-push.js';
import type { PeerAuth } from './peer-auth.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import { SluiceError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ChildStatuses } from '../replicate/status-rollup.js';
import type { ReportStore } from '../reports/report-store.js';
import type { ReportRollup } from '../reports/rollup.js';
import type { EgressLimiter } from '../schedule/egress.js';
import type { LiveTransfer } from '../transfer/live-transfer.js';
import type { BlobStore } from '../store/blob-store.js';
import type { VerifyReport } from '../store/verify-store.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { registerBlobRoutes } from './routes/blobs.js';
import { registerCatalogRoutes } from './routes/catalog.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerPackageRoutes } from './routes/packages.js';
import { registerReportRoutes } from './routes/reports.js';
import { registerRootRoutes } from './routes/root.js';
import { registerUpdateRoutes } from './routes/updates.js';

export interface HttpDeps {
  readonly topology: Topology;
  readonly node: NodeSpec;
  readonly store: BlobStore;
  readonly catalog: CatalogLog;
  /** Present on the primary only. */
  readonly writer: CatalogWriter | undefined;
  readonly tokens: AdminTokens;
  /** Who a node-to-node call comes from (certificate or per-node token). */
  readonly peerAuth: PeerAuth;
  /** TLS material when the node's url is https:// (served with mutual TLS); undefined: plain HTTP. */
  readonly tls: TlsMaterial | undefined;
  readonly children: ChildStatuses;
  /** Tokens endpoints present to report (SLUICE_ENDPOINT_TOKEN). */
  readonly endpointTokens: AdminTokens;
  readonly reports: ReportStore;
  readonly rollup: ReportRollup;
  /** Re-hashes the store (admin): quarantines and re-fetches what fails. */
  readonly verify: () => Promise<VerifyReport>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly isReady: () => { ready: boolean; reason?: string };
  readonly status: () => unknown;
  /** A blob being received right now, for cut-through relaying (downstream nodes only). */
  readonly liveTransfer: (sha256: string, waitMs: number) => Promise<LiveTransfer | undefined>;
  /** Caps on what this node sends (egress: { rate, perChild }). */
  readonly egress: EgressLimiter;
  /** Largest single file accepted by publish. */
  readonly maxUploadBytes: number;
  /** A connection idle this long is cut (HTTP_LIMITS.idleTimeoutMs unless a test shortens it). */
  readonly idleTimeoutMs: number;
}

/** Limits on what a client may send; beyond them the request is refused, never buffered. */
export const HTTP_LIMITS = {
  jsonBodyBytes: 1024 * 1024,
  /**
   * Status and report rollups pushed by a child carry its whole subtree: a 1,000-node tree
   * measured about 10 MiB (test/integration/resource-limits), so pushes may be larger.
   */
  pushBodyBytes: 32 * 1024 * 1024,
  /**
   * No byte either way for this long cuts the connection: stalled uploads and report posts,
   * headers never finished, downloads nobody reads. Longer than the longest long-poll wait,
   * which the catalog route adds on top for its own requests.
   */
  idleTimeoutMs: 120_000,
  filesPerPackage: 1000,
  metaFieldBytes: 64 * 1024,
  /** Long-polls are capped so proxies and clients never hold a request forever. */
  maxWaitSeconds: 60,
  maxCatalogPage: 10_000,
  defaultCatalogPage: 1000,
} as const;

/** The server plus the number of requests still being answered (for a clean drain). */
export type SluiceHttpServer = FastifyInstance & { inFlight: () => number };

export function buildHttpServer(deps: HttpDeps): SluiceHttpServer {
  const app: FastifyInstance = Fastify({
    // Mutual TLS: a client certificate is asked for but not required (endpoints, curl and
    // browsers have none); one that is presented must verify, or the connection is refused.
    ...(deps.tls ? { https: { ...tlsServerOptions(deps.tls), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const } } : {}),
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // One log line per request would flood the blob-serving hot path; errors are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: HTTP_LIMITS.jsonBodyBytes,
    // Uploads may take long, so no cap on a whole request; an idle connection is cut instead.
    requestTimeout: 0,
    connectionTimeout: deps.idleTimeoutMs,
    routerOptions: { maxParamLength: 256 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    exposeHeadRoutes: false,
  });

  void app.register(multipart, {
    limits: {
      fileSize: deps.maxUploadBytes,
      files: HTTP_LIMITS.filesPerPackage,
      fields: 1,
      fieldSize: HTTP_LIMITS.metaFieldBytes,
      parts: HTTP_LIMITS.filesPerPackage + 1,
      headerPairs: 100,
    },
  });

  app.setErrorHandler((err: FastifyError | SluiceError, request, reply) => {
    const e = toHttpError(err);
    deps.metrics.httpErrors.inc({ code: e.code });
    // Unexpected failures get a stack; expected ones (not ready, bad peer data) one line.
    if (e.code === 'INTERNAL' || e.code === 'STORE_IO') request.log.error({ err, url: request.url }, 'request failed');
    else if (e.status >= 500) request.log.warn({ code: e.code, url: request.url }, e.message);
    if (!reply.sent) void reply.code(e.status).type('application/json').send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new SluiceError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; see the HTTP API in the README`);
    deps.metrics.httpErrors.inc({ code: e.code });
    void reply.code(404).send(e.toJSON());
  });

  // Counted once per request, whichever of response or abort ends it.
  const open = new WeakSet<object>();
  let inFlight = 0;
  const done = async (request: object) => {
    if (open.delete(request)) inFlight--;
  };
  app.addHook('onRequest', async (request) => {
    open.add(request);
    inFlight++;
  });
  app.addHook('onResponse', done);
  app.addHook('onRequestAbort', done);

  registerHealthRoutes(app, deps);
  registerCatalogRoutes(app, deps);
  registerBlobRoutes(app, deps);
  registerPackageRoutes(app, deps);
  registerUpdateRoutes(app, deps);
  registerReportRoutes(app, deps);
  registerRootRoutes(app, deps);
  app.get('/v1/status', async () => deps.status());
  // A downstream node reports its status (and its subtree's) here.
  app.post('/v1/status', ...nodePush(deps, (body, caller) => deps.children.accept(body, caller)));
  app.post('/v1/verify', { onRequest: async (request) => void deps.tokens.authenticate(request.headers.authorization) }, async () => deps.verify());
  app.get('/metrics', async (_req, reply) => {
    void reply.type(deps.metrics.registry.contentType);
    return deps.metrics.scrape();
  });
  // Headers that never finish are cut after the idle time too (Node's default is 60 s).
  app.server.headersTimeout = Math.min(deps.idleTimeoutMs, 60_000);
  if (deps.tls) watchHandshakes(app, deps);
  return Object.assign(app, { inFlight: () => inFlight });
}

/** The certificate, key and trust anchors as Node's TLS options. */
export function tlsServerOptions(m: TlsMaterial): { cert: string; key: string; ca?: string } {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
}

/**
 * Counts and logs refused TLS connections: a client certificate that does not verify
 * (another CA, expired) is cut right after the handshake; failed handshakes (plain HTTP to
 * the TLS port, no common cipher) are counted by reason. Logged once per peer and reason.
 */
function watchHandshakes(app: FastifyInstance, deps: HttpDeps): void {
  const logged = new Set<string>();
  const refuse = (reason: TlsFailureReason, peer: string, detail: string) => {
    deps.metrics.tlsHandshakeFailures.inc({ reason });
    const key = `${peer}\u0000${reason}`;
    if (logged.has(key)) return;
    logged.add(key);
    app.log.warn({ peer, reason }, `TLS connection refused: ${detail}`);
  };
  app.server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.authorized) return;
    const cert = socket.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) return; // no client certificate: an endpoint or a browser
    const code = String(socket.authorizationError ?? '');
    const who = nodeNameOf(cert) ?? [cert.subject?.CN].flat()[0] ?? socket.remoteAddress ?? 'unknown';
    refuse(tlsFailureReason(code), who, `the client certificate of ${who} does not verify against trust.ca (${code})`);
    socket.destroy();
  });
  app.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const reason = tlsFailureReason(err.code, err.message);
    refuse(reason, socket.remoteAddress ?? 'unknown', reason === 'plain_http' ? 'plain HTTP sent to the HTTPS port; use https:// in the URL' : err.message);
  });
}

/** Fastify's own errors (parsing, limits, multipart) mapped onto the catalogue. */
function toHttpError(err: FastifyError | SluiceError): SluiceError {
  if (err instanceof SluiceError) return err;
  const byCode: Record<string, [ErrorCode, string]> = {
    FST_ERR_CTP_BODY_TOO_LARGE: ['PAYLOAD_TOO_LARGE', `the request body is larger than this route accepts (${HTTP_LIMITS.jsonBodyBytes} bytes; ${HTTP_LIMITS.pushBodyBytes} for status and rollup pushes)`],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type; send application/json (or multipart/form-data to publish)'],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['BAD_REQUEST', 'the JSON body is empty; send {} or omit the Content-Type'],
    FST_ERR_CTP_INVALID_JSON_BODY: ['BAD_REQUEST', 'the body is not valid JSON'],
    FST_REQ_FILE_TOO_LARGE: ['PAYLOAD_TOO_LARGE', 'a file is larger than this node accepts for publishing'],
    FST_FILES_LIMIT: ['PAYLOAD_TOO_LARGE', `too many files; at most ${HTTP_LIMITS.filesPerPackage} per package`],
    FST_PARTS_LIMIT: ['PAYLOAD_TOO_LARGE', `too many parts; at most ${HTTP_LIMITS.filesPerPackage + 1} per package`],
    FST_FIELDS_LIMIT: ['INVALID_UPLOAD', 'only one form field ("meta") is allowed'],
    FST_INVALID_MULTIPART_CONTENT_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'publish expects multipart/form-data'],
  };
  const mapped = err.code ? byCode[err.code] : undefined;
  if (mapped) return new SluiceError(mapped[0], mapped[1], { cause: err });
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new SluiceError('BAD_REQUEST', err.message, { cause: err });
  return new SluiceError('INTERNAL', `internal error: ${err.message}`, { cause: err });
}
