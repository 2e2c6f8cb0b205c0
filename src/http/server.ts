import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { blobsPlugin } from './blobs-plugin.js';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import cookie from '@fastify/cookie';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { nodeNameOf, tlsFailureReason, type TlsFailureReason } from '../tls/node-identity.js';
import type { TlsMaterial } from '../tls/tls-files.js';
import { HTTP_LIMITS, type HttpDeps } from './deps.js';
import { SluiceError, type ErrorCode } from '../errors.js';
import { registerCatalogRoutes } from './routes/catalog.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerPackageRoutes } from './routes/packages.js';
import { registerReportRoutes } from './routes/reports.js';
import { registerRingRoutes } from './routes/rings.js';
import { registerPaceRoutes } from './routes/pace.js';
import { registerRootRoutes } from './routes/root.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerUpdateRoutes } from './routes/updates.js';
import { registerFeedRoutes } from './routes/feeds.js';
import { registerPromotionRoutes } from './routes/promotions.js';
import { registerAptRoutes } from './routes/apt.js';
import { registerAccessRoutes } from './routes/access.js';
import { actOf, maybePrincipalOf } from './require-token.js';

/** The error code each failed request was answered with (for its audit entry). */
const errorCodes = new WeakMap<object, string>();

/**
 * The server plus the number of requests still being answered (for a clean drain), and a
 * way to cut every connection it accepted, those still in their TLS handshake included
 * (closeAllConnections knows only those that finished it).
 */
export type SluiceHttpServer = FastifyInstance & { inFlight: () => number; cutAll: () => void };

export { HTTP_LIMITS, type HttpDeps };

export function buildHttpServer(deps: HttpDeps): SluiceHttpServer {
  const blobs = blobsPlugin(deps);
  const fastPath = blobs.fastPath;
  const sockets = new Set<Socket>();
  const app: FastifyInstance = Fastify({
    // The server is made here so that whole small blobs are answered before the framework
    // (the blobs plugin's fast path); every other request goes to Fastify's handler.
    // Mutual TLS: a client certificate is asked for but not required (endpoints, curl and
    // browsers have none); one that is presented must verify, or the connection is refused.
    serverFactory: (handler) => {
      const onRequest = (req: IncomingMessage, res: ServerResponse) => {
        if (!fastPath.handle(req, res)) handler(req, res);
      };
      const server = deps.tls
        ? createHttpsServer({ ...tlsServerOptions(deps.tls), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, onRequest)
        : createHttpServer(onRequest);
      // Every socket, from its first byte: one whose TLS handshake never ends (its peer's link
      // went down) would otherwise hold the close of the server until the handshake times out.
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      // What Fastify sets on a server it makes itself.
      server.keepAliveTimeout = 72_000;
      server.requestTimeout = 0;
      server.setTimeout(deps.idleTimeoutMs);
      return server;
    },
    // The server comes from serverFactory; Fastify reads this only to write "https://" in its
    // "Server listening at" line, which otherwise said http:// on a TLS node.
    ...(deps.tls ? { https: true as const } : {}),
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

  // Console sessions (console/) travel in a cookie; parsed for every route so admin calls accept them.
  void app.register(cookie);
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
    errorCodes.set(request, e.code);
    deps.metrics.httpErrors.inc({ code: e.code });
    // Unexpected failures get a stack; expected ones (not ready, bad peer data) one line.
    if (e.code === 'INTERNAL' || e.code === 'STORE_IO') request.log.error({ err, url: request.url }, 'request failed');
    else if (e.status >= 500) request.log.warn({ code: e.code, url: request.url }, e.message);
    if (!reply.sent) void reply.code(e.status).type('application/json').send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new SluiceError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; see docs/http-api.md`);
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
  // Every administrative act that changes state, allowed or refused, with who and from where.
  app.addHook('onResponse', async (request, reply) => {
    const act = actOf(request);
    if (!act || request.method === 'GET' || request.method === 'HEAD') return;
    const p = maybePrincipalOf(request);
    const outcome = reply.statusCode < 400 ? 'ok' : (errorCodes.get(request) ?? `HTTP ${reply.statusCode}`);
    await deps.audit.append({ who: p?.who ?? '-', role: p?.role ?? null, via: p?.via ?? null, source: request.ip, act: act.act, target: act.target, outcome }).catch((err: Error) => request.log.error({ err: err.message, act: act.act }, 'could not write the audit entry'));
  });
  app.addHook('onRequestAbort', done);

  registerHealthRoutes(app, deps);
  registerCatalogRoutes(app, deps);
  void app.register(blobs.plugin);
  registerPackageRoutes(app, deps);
  registerUpdateRoutes(app, deps);
  registerReportRoutes(app, deps);
  registerRingRoutes(app, deps);
  registerRootRoutes(app, deps);
  registerStatusRoutes(app, deps);
  registerAdminRoutes(app, deps);
  registerMetricsRoutes(app, deps);
  registerPaceRoutes(app, deps);
  registerFeedRoutes(app, deps);
  registerPromotionRoutes(app, deps);
  registerAptRoutes(app, deps);
  registerAccessRoutes(app, deps);
  // Headers that never finish are cut after the idle time too (Node's default is 60 s).
  app.server.headersTimeout = Math.min(deps.idleTimeoutMs, 60_000);
  if (deps.tls) watchHandshakes(app, deps);
  return Object.assign(app, {
    inFlight: () => inFlight + fastPath.inFlight(),
    cutAll: () => {
      app.server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    },
  });
}

/** The certificate, key and trust anchors as Node's TLS options. */
export function tlsServerOptions(m: TlsMaterial): { cert: string; key: string; ca?: string; crl?: string } {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), ...(m.crl ? { crl: m.crl } : {}) };
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
