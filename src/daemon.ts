import { EnvHttpProxyAgent } from 'undici';
import { FeedScheduler } from './feeds/feed-scheduler.js';
import { FeedState } from './feeds/feed-state.js';
import { VendorFetcher } from './feeds/vendor-fetcher.js';
import { AptPublisher } from './feeds/apt-publisher.js';
import { AptServing } from './feeds/apt-serving.js';
import { loadRepositoryKey } from './feeds/repository-key.js';
import { statfsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AdminTokens } from './auth/admin-tokens.js';
import { RefusalThrottle } from './auth/refusal-throttle.js';
import { ConsoleSessions } from './auth/console-sessions.js';
import type { Secrets } from './auth/secrets.js';
import { CatalogLog } from './catalog/catalog-log.js';
import { CatalogWriter } from './catalog/catalog-writer.js';
import { readPrivateKey, readPublicKey } from './catalog/keys.js';
import { SluiceError, toSluiceError } from './errors.js';
import { HTTP_LIMITS, buildHttpServer, tlsServerOptions, type HttpDeps, type SluiceHttpServer } from './http/server.js';
import { registerConsole } from './console/console-routes.js';
import { UpdatesCache } from './catalog/updates-cache.js';
import { RelaySources } from './transfer/live-relays.js';
import { PeerAuth } from './http/peer-auth.js';
import { PATHS } from './protocol/paths.js';
import { PeerClient } from './protocol/peer-client.js';
import { loadCaBundle, loadTlsMaterial, watchTlsMaterial, type TlsMaterial } from './tls/tls-files.js';
import type { Logger } from './log/logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { Replicator } from './replicate/replicator.js';
import { buildNodeStatus } from './replicate/node-status.js';
import type { NodeStatus } from './protocol/status.js';
import { LostBlobs } from './catalog/lost-blobs.js';
import { ChildStatuses, statusChangeKey, type OwnStatus } from './replicate/status-rollup.js';
import { SubtreePusher, type PushedEntry } from './protocol/subtree-pusher.js';
import type { SiteSummary } from './reports/report-store.js';
import { RedisLink } from './site/redis-link.js';
import { importExport, type ImportReport } from './offline/import-export.js';
import { probeDelayMs } from './protocol/probe-delay.js';
import { SiteBudget } from './site/site-budget.js';
import { BlobLeases } from './site/blob-leases.js';
import { ReportStore } from './reports/report-store.js';
import { ReportRollup } from './reports/rollup.js';
import { complianceBySeverity, complianceRows } from './reports/compliance.js';
import { DEFAULT_TUNING, type ReplicationTuning } from './replicate/tuning.js';
import { EgressLimiter } from './schedule/egress.js';
import { ScheduleController } from './schedule/schedule-controller.js';
import type { FsBlobStore } from './store/fs-blob-store.js';
import { openNodeData } from './catalog/node-data.js';
import { verifyStore } from './store/verify-store.js';
import type { MetaDb } from './store/meta-db.js';
import { pullsFrom } from './topology/tree.js';
import type { NodeSpec, Topology } from './topology/types.js';
import { VERSION } from './version.js';

/** How long a stopping node lets in-flight requests finish before cutting them. */
const DRAIN_MS = 10_000;

export interface NodeOptions {
  readonly topology: Topology;
  readonly nodeName: string;
  readonly secrets: Secrets;
  readonly logger: Logger;
  /** Largest file accepted by publish. @defaultValue 64 GiB */
  readonly maxUploadBytes?: number;
  /** Bind here instead of the topology's address (tests bind port 0). */
  readonly listenOverride?: { host: string; port: number };
  /** How often the TLS files are checked for a renewal. @defaultValue 10 s */
  readonly tlsReloadMs?: number;
  /** Replication timing; defaults in replicate/tuning.ts. */
  readonly tuning?: Partial<ReplicationTuning>;
  /**
   * A connection that sends and receives nothing for this long is cut (stalled request
   * bodies, half-sent headers, clients that stopped reading). Long-polls get their wait on
   * top. @defaultValue 120 s
   */
  readonly httpIdleTimeoutMs?: number;
}

/**
 * The composition root: builds one node from the topology and its secrets, with every
 * component passed explicitly. `start()` brings it to ready; `close()` drains and is
 * idempotent.
 */
export class SluiceNode {
  readonly spec: NodeSpec;
  readonly metrics: Metrics;
  private readonly log: Logger;
  private db: MetaDb | undefined;
  private http: SluiceHttpServer | undefined;
  private writer: CatalogWriter | undefined;
  private catalogLog: CatalogLog | undefined;
  private blobStore: FsBlobStore | undefined;
  private replicator: Replicator | undefined;
  private pusher: SubtreePusher<OwnStatus> | undefined;
  private reportPusher: SubtreePusher<SiteSummary> | undefined;
  private rollup: ReportRollup | undefined;
  private schedule: ScheduleController | undefined;
  private children: ChildStatuses | undefined;
  private siteLink: RedisLink | undefined;
  private siteBudget: SiteBudget | undefined;
  private ready = false;
  /** TLS material of this node (served when its url is https://, presented to upstreams). */
  private tls: TlsMaterial | undefined;
  /** The one pool for calls to other nodes. */
  private readonly client = new PeerClient();
  /** Connections to vendor repositories (feeds), on the primary. */
  private vendorClient: EnvHttpProxyAgent | undefined;
  private feeds: FeedScheduler | undefined;
  private vendorFetcher: VendorFetcher | undefined;
  /** Who relays blobs still arriving (the replicator, the vendor fetcher), as the blob route asks. */
  private readonly relaySources = new RelaySources();
  /** The primary's schedule for vendor fetches (downstream nodes pace replication with `schedule`). */
  private vendorSchedule: ScheduleController | undefined;
  private aptPublisher: AptPublisher | undefined;
  private stopWatchingTls: (() => void) | undefined;
  /** On the primary: catalogued blobs whose file is gone. */
  private lost: LostBlobs | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: NodeOptions) {
    const spec = options.topology.nodes.get(options.nodeName);
    if (!spec) {
      throw new SluiceError('UNKNOWN_NODE', `node "${options.nodeName}" is not in ${options.topology.file}; expected one of: ${[...options.topology.nodes.keys()].join(', ')}`);
    }
    this.spec = spec;
    this.log = options.logger.child({ node: spec.name });
    // Peers that can appear in labels, known up front so every series exists from start-up.
    const children = [...options.topology.nodes.keys()].filter((name) => pullsFrom(options.topology, name, spec.name));
    this.metrics = createMetrics(spec.name, VERSION, { upstreams: spec.upstream ? [spec.upstream, ...spec.fallback] : [], children });
  }

  get catalog(): CatalogLog {
    if (!this.catalogLog) throw new Error('node not started');
    return this.catalogLog;
  }

  get store(): FsBlobStore {
    if (!this.blobStore) throw new Error('node not started');
    return this.blobStore;
  }

  /** The address actually bound (differs from the topology when port 0 was asked for). */
  get address(): { host: string; port: number; url: string } {
    const a = this.http?.server.address() as AddressInfo | null | undefined;
    if (!a) throw new Error('node not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `${this.tls ? 'https' : 'http'}://${host}:${a.port}` };
  }

  async start(): Promise<void> {
    const { topology, secrets } = this.options;
    // The pinned root of trust: version 1 is trust.catalogKey; later roots arrive in the catalog.
    const publicKey = readPublicKey(topology.trust.catalogKeyPath, 'the catalog public key (trust.catalogKey)');
    const signingKeys = this.spec.isPrimary ? this.loadSigningKeys() : undefined;
    const tokens = new AdminTokens(secrets.adminTokens);
    if (this.spec.isPrimary && !tokens.configured) this.log.warn('SLUICE_ADMIN_TOKEN is not set: this primary will refuse every publish and approval');

    this.loadTls();
    const opened = await openNodeData(this.spec.dataDir, publicKey);
    this.db = opened.db;
    try {
      this.catalogLog = opened.catalog;
      const catalog = this.catalogLog;
      this.blobStore = opened.store;
      const { dropped, adopted, deleted } = opened.reconciled;
      if (dropped.length || adopted.length || deleted.length) {
        this.log.warn({ dropped: dropped.length, adopted: adopted.length, deleted: deleted.length }, 'store reconciled with disk at start-up');
      }
      if (signingKeys) {
        this.lost = new LostBlobs(catalog, opened.store);
        this.writer = new CatalogWriter(catalog, opened.store, signingKeys, topology.trust.headTtlMs, topology.trust.timestampTtlMs);
        await this.writer.start();
        if (topology.feeds.size) {
          // Vendors are reached as any HTTP client of this host would: HTTP(S)_PROXY and NO_PROXY apply.
          this.vendorClient = new EnvHttpProxyAgent();
          const feedState = new FeedState(this.db);
          this.feeds = new FeedScheduler(topology.feeds, { catalog, writer: this.writer, state: feedState, metrics: this.metrics, log: this.log.child({ component: 'feeds' }), dispatcher: this.vendorClient });
          const t = { ...DEFAULT_TUNING, ...this.options.tuning };
          if (secrets.aptKeyPath) {
            const key = await loadRepositoryKey(secrets.aptKeyPath);
            this.aptPublisher = new AptPublisher({ catalog, writer: this.writer, store: opened.store, state: feedState, key, topology, log: this.log.child({ component: 'apt' }), validMs: topology.trust.headTtlMs });
          } else this.log.warn('SLUICE_APT_KEY is not set: feed packages replicate, but no signed APT repository is published for stock apt clients; create a key with "sluice keygen --apt --out DIR"');
          // The primary's own region windows pace what it takes from vendors.
          const region = topology.regions.get(this.spec.region)!;
          this.vendorSchedule = new ScheduleController(this.spec.schedule ?? region.schedule, region.timezone, region.critical, this.metrics, this.log.child({ component: 'schedule' }));
          this.vendorSchedule.start();
          this.vendorFetcher = new VendorFetcher({ catalog, store: opened.store, feeds: topology.feeds, metrics: this.metrics, log: this.log.child({ component: 'vendor' }), dispatcher: this.vendorClient, stallMs: t.stallMs, checkpointBytes: t.checkpointBytes, checkpointMs: t.checkpointMs, backoffFloorMs: t.backoffFloorMs, backoffCapMs: t.backoffCapMs, budget: this.vendorSchedule.budget, criticalBudget: this.vendorSchedule.criticalBudget });
          this.relaySources.attach(this.vendorFetcher);
        }
      }
      this.metrics.onScrape(() => this.updateGauges());
      const tuning = { ...DEFAULT_TUNING, ...this.options.tuning };
      this.children = new ChildStatuses(topology, this.spec, tuning.statusStaleMs);
      const reports = await ReportStore.open(this.db, this.metrics);
      const rollup = new ReportRollup(topology, this.spec, reports, tuning.statusStaleMs);
      for (const file of await reports.loadImported()) {
        try {
          rollup.adoptFile(file);
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'a report file imported earlier no longer fits the topology; ignored');
        }
      }
      this.rollup = rollup;
      const refusals = new RefusalThrottle(
        (fields, message) => this.log.warn(fields, message),
        (kind) => this.metrics.authRefusals.inc({ kind }),
      );
      const httpDeps: HttpDeps = {
        topology,
        node: this.spec,
        store: opened.store,
        catalog,
        writer: this.writer,
        tokens,
        sessions: new ConsoleSessions(tokens),
        refusals,
        peerAuth: this.peerAuth(refusals),
        tls: this.tls,
        endpointTokens: new AdminTokens(secrets.endpointTokens, 'SLUICE_ENDPOINT_TOKEN'),
        reports,
        rollup,
        children: this.children,
        verify: () => this.verify(),
        importExport: (dir: string, maxAgeMs?: number) => this.importExport(dir, maxAgeMs),
        relays: this.relaySources,
        updates: new UpdatesCache({ catalog, node: this.spec, store: opened.store, topology, metrics: this.metrics }),
        ...(this.feeds ? { feeds: this.feeds } : {}),
        apt: new AptServing(catalog, opened.store),
        egress: new EgressLimiter(this.spec.egress.rateBytesPerSec, this.spec.egress.perChildBytesPerSec),
        metrics: this.metrics,
        logger: this.log,
        isReady: () => (this.ready ? { ready: true } : { ready: false, reason: 'starting' }),
        status: () => this.status(),
        maxUploadBytes: this.options.maxUploadBytes ?? 64 * 1024 ** 3,
        idleTimeoutMs: this.options.httpIdleTimeoutMs ?? HTTP_LIMITS.idleTimeoutMs,
      };
      this.http = buildHttpServer(httpDeps);
      // The console is a plugin of the node's server like the API, registered here so that
      // http/ and console/ never import each other's registration.
      registerConsole(this.http, httpDeps);
      const host = this.options.listenOverride?.host ?? this.spec.listenHost;
      const port = this.options.listenOverride?.port ?? this.spec.listenPort;
      try {
        await this.http.listen({ host, port });
      } catch (err) {
        throw new SluiceError('LISTEN_FAILED', `node ${this.spec.name} cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); free the port or change "listen"/"url" in the topology`, { cause: err });
      }
      if (!this.spec.isPrimary) {
        const region = topology.regions.get(this.spec.region)!;
        // Background windows feel the path's delay to the current upstream, and ask it to send at their rate.
        const probe = async (rateBytesPerSec: number) => {
          const peer = this.replicator?.peers.current();
          return peer ? probeDelayMs(peer.url, this.client.dispatcher, this.spec.name, { rateBytesPerSec, peerToken: this.options.secrets.peerToken }) : undefined;
        };
        this.schedule = new ScheduleController(this.spec.schedule ?? region.schedule, region.timezone, region.critical, this.metrics, this.log.child({ component: 'schedule' }), Date.now, probe);
        this.schedule.start();
        const site = this.spec.site ? topology.sites.get(this.spec.site) : undefined;
        if (site) {
          this.siteLink = new RedisLink(site.redisUrl, this.log.child({ component: 'site' }), (up) => this.metrics.siteRedisUp.set(up ? 1 : 0));
          this.metrics.siteRedisUp.set(0);
          this.siteBudget = new SiteBudget(this.schedule.budget, site, this.siteLink);
        }
        const siteLink = this.siteLink;
        this.replicator = new Replicator({
          ...(site && siteLink && this.siteBudget ? { site: { budget: this.siteBudget, leases: new BlobLeases(site, this.spec.name, siteLink), siblingUrl: (name: string) => topology.nodes.get(name)!.url } } : {}),
          topology,
          spec: this.spec,
          catalog,
          store: opened.store,
          db: this.db,
          metrics: this.metrics,
          log: this.log,
          tuning,
          schedule: this.schedule,
          graceMs: topology.graceMs,
          client: this.client,
        });
        this.relaySources.attach(this.replicator);
        await this.replicator.start();
        const push = { self: this.spec, upstream: () => this.replicator!.peers.current(), peerToken: secrets.peerToken, everyMs: tuning.statusPushMs, client: this.client };
        const children = this.children;
        this.pusher = new SubtreePusher<OwnStatus>({
          ...push,
          route: PATHS.status,
          log: this.log.child({ component: 'status' }),
          collect: () => {
            const { children: _below, ...own } = this.status(20);
            return new Map<string, PushedEntry<OwnStatus>>([[this.spec.name, { parent: null, value: own, stale: false }], ...children.below()]);
          },
          changeKey: statusChangeKey,
        });
        this.pusher.start();
        this.reportPusher = new SubtreePusher<SiteSummary>({ ...push, route: PATHS.reportsRollup, log: this.log.child({ component: 'reports' }), collect: () => rollup.forPush(), changeKey: (s) => JSON.stringify(s) });
        this.reportPusher.start();
      }
      this.feeds?.start();
      this.vendorFetcher?.start();
      this.aptPublisher?.start();
      this.ready = true;
      this.log.info({ url: this.address.url, catalogSeq: catalog.seq, blobs: opened.store.stats().blobs, primary: this.spec.isPrimary }, 'node ready');
    } catch (err) {
      await this.close();
      throw toSluiceError(err, `node ${this.spec.name} failed to start`);
    }
  }

  /** This node's status with its subtree (protocol/status.ts; `sluice status --json`). */
  status(maxTransfers = 100): NodeStatus {
    return buildNodeStatus(
      {
        spec: this.spec,
        ready: this.ready,
        catalog: this.catalogLog,
        store: this.blobStore,
        replicator: this.replicator,
        schedule: this.schedule,
        children: this.children,
        lost: () => this.lost?.list() ?? [],
        vendor: this.vendorFetcher,
        site: this.siteLink && this.siteBudget ? { name: this.spec.site!, redisUp: this.siteLink.up, fallbackShare: this.siteBudget.fallbackShare } : undefined,
      },
      maxTransfers,
    );
  }

  /** Takes an export (sluice export) from a directory: verified, then replication carries on from it. */
  async importExport(dir: string, maxAgeMs?: number): Promise<ImportReport> {
    if (this.spec.isPrimary) throw new SluiceError('NOT_PRIMARY', `node ${this.spec.name} is the primary: it writes the catalog, exports come from it; import into a downstream node`);
    const report = await importExport(dir, { topology: this.options.topology, spec: this.spec, catalog: this.catalogLog!, store: this.blobStore!, ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) });
    this.log.info({ dir, ...report.catalog, ...report.blobs }, 'export imported');
    this.replicator?.refresh();
    return report;
  }

  /** Re-hashes every stored blob; failures are quarantined and, on a downstream node, fetched again. */
  async verify() {
    const report = await verifyStore(this.store);
    if (report.quarantined.length) this.log.error({ quarantined: report.quarantined }, 'blobs failed verification and were quarantined');
    if (report.missing.length) this.log.error({ missing: report.missing }, 'blobs whose file is gone were forgotten');
    if (report.unreadable.length) this.log.warn({ unreadable: report.unreadable }, 'some blobs could not be read; they are kept (run verify again)');
    this.replicator?.refresh();
    return { node: this.spec.name, ...report };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.ready = false;
      this.stopWatchingTls?.();
      const steps: [string, () => unknown][] = [
        ['feeds', () => this.feeds?.close()],
        ['vendor fetches', () => this.vendorFetcher?.close()],
        ['vendor schedule', () => this.vendorSchedule?.close()],
        ['apt index', () => this.aptPublisher?.close()],
        ['status', () => this.pusher?.close()],
        ['reports', () => this.reportPusher?.close()],
        ['replication', () => this.replicator?.close()],
        ['schedule', () => this.schedule?.close()],
        ['site', () => this.siteLink?.close()],
        ['writer', () => this.writer?.close()],
        ['http', () => this.closeHttp()],
        ['packs', () => this.blobStore?.close()],
        ['database', () => this.db?.close()],
        ['peer connections', () => this.client.close()],
        ['vendor connections', () => this.vendorClient?.destroy()],
      ];
      // Every step runs even when one fails; the first failure is reported.
      let first: unknown;
      for (const [name, step] of steps) {
        try {
          const started = Date.now();
          await step();
          this.log.debug({ step: name, ms: Date.now() - started }, 'closed');
        } catch (err) {
          first ??= err;
          this.log.error({ err, step: name }, 'error while closing');
        }
      }
      if (first) throw toSluiceError(first, `closing node ${this.spec.name}`);
    })();
    return this.closing;
  }

  /**
   * Stops accepting, releases held long-polls, lets in-flight requests finish (uploads,
   * downloads) for up to DRAIN_MS, then cuts what remains. Connections that finish a request
   * begun before the close would otherwise idle in keep-alive and hold the close open.
   */
  private async closeHttp(): Promise<void> {
    if (!this.http) return;
    const http = this.http;
    const server = http.server;
    const closing = http.close();
    this.catalogLog?.wakeAll();
    // Once no request is being answered, whatever connections remain are idle: cut them.
    const reaper = setInterval(() => (http.inFlight() <= 0 ? server.closeAllConnections() : server.closeIdleConnections()), 50);
    const deadline = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    try {
      await closing;
    } finally {
      clearInterval(reaper);
      clearTimeout(deadline);
    }
  }

  /**
   * Compliant installs over endpoints per severity in this node's subtree, counting each
   * package only at the sites in its rings; NaN where no such site has endpoints.
   */
  private sampleCompliance(): void {
    if (!this.rollup || !this.catalogLog) return;
    const ratios = complianceBySeverity(complianceRows(this.catalogLog.state, this.options.topology, this.rollup.subtree()));
    for (const [severity, ratio] of Object.entries(ratios)) this.metrics.compliance.set({ severity }, ratio ?? NaN);
  }

  /** Free space where the blobs live, for the "disk nearly full" alert (statfs is cheap). */
  private sampleFilesystem(): void {
    try {
      const fs = statfsSync(this.spec.dataDir);
      this.metrics.filesystemAvail.set(fs.bavail * fs.bsize);
      this.metrics.filesystemSize.set(fs.blocks * fs.bsize);
    } catch {
      // the directory vanished: the store errors will say so
    }
  }

  /**
   * Loads this node's certificate and key (SLUICE_TLS_CERT, SLUICE_TLS_KEY), required when
   * its url is https:// and presented to its upstream for mutual TLS whenever present, and
   * watches them: a renewed pair is used for new connections without a restart.
   */
  private loadTls(): void {
    const { secrets, topology } = this.options;
    const https = this.spec.url.startsWith('https:');
    const caPath = topology.trust.caPath;
    const ca = caPath ? loadCaBundle(caPath) : undefined;
    if (!secrets.tlsCertPath || !secrets.tlsKeyPath) {
      if (https) throw new SluiceError('TLS_INVALID', `node ${this.spec.name} has an https:// url but no certificate: set SLUICE_TLS_CERT and SLUICE_TLS_KEY (create a pair with "sluice cert node ${this.spec.name} --ca-dir DIR --out DIR")`);
      this.client.update({ ca, peerToken: secrets.peerToken });
      return;
    }
    const paths = { certPath: secrets.tlsCertPath, keyPath: secrets.tlsKeyPath, caPath, crlPath: topology.trust.crlPath };
    const apply = (m: TlsMaterial) => {
      this.tls = https ? m : undefined;
      this.client.update({ ca: m.ca, cert: m.cert, key: m.key, crl: m.crl, peerToken: secrets.peerToken });
      this.metrics.tlsCertExpiry.set(m.notAfterMs / 1000);
    };
    apply(loadTlsMaterial(paths));
    this.stopWatchingTls = watchTlsMaterial(
      paths,
      this.options.tlsReloadMs ?? 10_000,
      (m) => {
        apply(m);
        if (this.tls && this.http) (this.http.server as unknown as { setSecureContext(o: object): void }).setSecureContext(tlsServerOptions(m));
        this.log.info({ expires: new Date(m.notAfterMs).toISOString() }, 'TLS certificate reloaded; new connections use it');
      },
      (err) => this.log.error({ code: err.code }, `TLS files changed but cannot be used (${err.message}); keeping the previous certificate`),
    );
  }

  /** Who may push here: certified nodes, per-node tokens, or (legacy) the tree-wide token. */
  private peerAuth(refusals: RefusalThrottle): PeerAuth {
    const { secrets, topology } = this.options;
    const childTokens = new AdminTokens(secrets.childTokens, 'SLUICE_PEER_TOKENS');
    // The tree-wide token of earlier versions names no node: accepted only on a plain-HTTP
    // node without per-node tokens (over HTTPS, certificates say who calls).
    const https = this.spec.url.startsWith('https:');
    const shared = new AdminTokens(childTokens.configured || https ? undefined : secrets.peerToken, 'SLUICE_PEER_TOKEN');
    const hasChildren = [...topology.nodes.values()].some((n) => pullsFrom(topology, n.name, this.spec.name));
    if (hasChildren && shared.configured) this.log.warn('accepting pushes with the tree-wide SLUICE_PEER_TOKEN: any node holding it can claim to be any other; give each node its own token (SLUICE_PEER_TOKENS=NAME=TOKEN,...) or use mutual TLS');
    return new PeerAuth(topology, childTokens, shared, refusals);
  }

  /**
   * The primary's catalog signing keys: SLUICE_SIGNING_KEY, a path or a comma-separated list
   * (the old and the new key while a rotation is applied). The writer signs with the one the
   * root in force lists, and refuses to start with none.
   */
  private loadSigningKeys() {
    const spec = this.options.secrets.signingKeyPath;
    if (!spec) {
      throw new SluiceError('KEY_MISSING', `node ${this.spec.name} is the primary and needs the catalog signing key: set SLUICE_SIGNING_KEY to the path of catalog.key (create a pair with "sluice keygen --out DIR")`);
    }
    return spec.split(',').map((file) => readPrivateKey(file.trim(), 'the catalog signing key (SLUICE_SIGNING_KEY)'));
  }

  private updateGauges(): void {
    if (!this.catalogLog || !this.blobStore) return;
    const { blobs, bytes } = this.blobStore.stats();
    this.metrics.storeBlobs.set(blobs);
    this.metrics.storeBytes.set(bytes);
    this.metrics.catalogSeq.set(this.catalogLog.seq);
    const head = this.catalogLog.head;
    if (head) this.metrics.catalogHeadExpiry.set(Date.parse(head.expires) / 1000);
    const ts = this.catalogLog.timestamp;
    if (ts) this.metrics.catalogTimestampAge.set(Math.max(0, (Date.now() - Date.parse(ts.issued)) / 1000));
    this.metrics.rootVersion.set(this.catalogLog.root.version);
    this.replicator?.updateMetrics();
    if (this.replicator) {
      const missing = new Map<string, number>(this.replicator.peers.all.map((p) => [p.name, 0]));
      for (const m of this.replicator.missing()) missing.set(m.peer, (missing.get(m.peer) ?? 0) + 1);
      for (const [peer, n] of missing) this.metrics.blobsMissingUpstream.set({ peer }, n);
    }
    this.metrics.blobsLost.set(this.lost?.list().length ?? 0);
    this.sampleFilesystem();
    this.sampleCompliance();
  }
}
