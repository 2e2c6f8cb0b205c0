import type { AddressInfo } from 'node:net';
import { AdminTokens } from './auth/admin-tokens.js';
import { ConsoleSessions } from './auth/console-sessions.js';
import { Credentials } from './auth/credentials.js';
import { NamedTokens } from './auth/named-tokens.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditRollup } from './audit/audit-rollup.js';
import { sublevels } from './store/meta-db.js';
import { RefusalThrottle } from './auth/refusal-throttle.js';
import type { Secrets } from './auth/secrets.js';
import { sampleCatalogGauges } from './catalog/catalog-gauges.js';
import type { CatalogLog } from './catalog/catalog-log.js';
import { readPublicKey } from './catalog/keys.js';
import { openNodeData, type NodeData } from './catalog/node-data.js';
import { UpdatesCache } from './catalog/updates-cache.js';
import { registerConsole } from './console/console-routes.js';
import { DownstreamRole } from './daemon/downstream-role.js';
import { PrimaryRole, loadSigningKeys } from './daemon/primary-role.js';
import { runCloseSteps } from './daemon/close-steps.js';
import { SluiceError, toSluiceError } from './errors.js';
import { AptServing } from './http/apt-serving.js';
import { RpmServing } from './http/rpm-serving.js';
import { fingerprintOf } from './feeds/repository-key.js';
import { closeDrained } from './http/drain.js';
import { PeerAuth } from './http/peer-auth.js';
import { HTTP_LIMITS, buildHttpServer, tlsServerOptions, type HttpDeps, type SluiceHttpServer } from './http/server.js';
import type { Logger } from './log/logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { importExport, type ImportReport } from './offline/import-export.js';
import { PeerClient } from './protocol/peer-client.js';
import type { NodeStatus } from './protocol/status.js';
import { buildNodeStatus } from './status/node-status.js';
import { ChildStatuses } from './status/status-rollup.js';
import { DEFAULT_TUNING, type ReplicationTuning } from './replicate/tuning.js';
import { sampleComplianceGauges } from './reports/compliance-gauges.js';
import { ReportStore } from './reports/report-store.js';
import { ReportRollup } from './reports/rollup.js';
import { EgressLimiter } from './schedule/egress.js';
import type { FsBlobStore } from './store/fs-blob-store.js';
import { sampleStoreGauges } from './store/store-gauges.js';
import { verifyStore } from './store/verify-store.js';
import { NodeTls } from './tls/node-tls.js';
import { pullsFrom } from './topology/tree.js';
import type { NodeSpec, Topology } from './topology/types.js';
import { VERSION } from './version.js';

/** How long a stopping node takes at most to stop its work and let in-flight requests finish (deploy/README.md: up to 10 s). */
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
  /** The data directory, opened (database, catalog, store). */
  private data: NodeData | undefined;
  private http: SluiceHttpServer | undefined;
  /** What only the primary runs (catalog writer, vendor feeds). */
  private primary: PrimaryRole | undefined;
  /** What every other node runs (schedule, replication planner and downloader, pushes upstream). */
  private downstream: DownstreamRole | undefined;
  private rollup: ReportRollup | undefined;
  /** The audit trail: its counts of refused acts are written before the database closes. */
  private audit: AuditLog | undefined;
  private children: ChildStatuses | undefined;
  private ready = false;
  /** The one pool for calls to other nodes. */
  private readonly client = new PeerClient();
  /** This node's certificate: served when its url is https://, presented to upstreams. */
  private readonly tls: NodeTls;
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
    this.tls = new NodeTls(spec, options.topology, options.secrets, this.metrics, this.log, (m) => this.client.update({ ...m, peerToken: options.secrets.peerToken }));
  }

  get catalog(): CatalogLog {
    if (!this.data) throw new Error('node not started');
    return this.data.catalog;
  }

  get store(): FsBlobStore {
    if (!this.data) throw new Error('node not started');
    return this.data.store;
  }

  /** The address actually bound (differs from the topology when port 0 was asked for). */
  get address(): { host: string; port: number; url: string } {
    const a = this.http?.server.address() as AddressInfo | null | undefined;
    if (!a) throw new Error('node not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `${this.tls.served ? 'https' : 'http'}://${host}:${a.port}` };
  }

  async start(): Promise<void> {
    const { topology, secrets } = this.options;
    // The pinned root of trust: version 1 is trust.catalogKey; later roots arrive in the catalog.
    const publicKey = readPublicKey(topology.trust.catalogKeyPath, 'the catalog public key (trust.catalogKey)');
    // Checked before the data directory is touched: a primary without its key does not start.
    const signingKeys = this.spec.isPrimary ? loadSigningKeys(this.spec, secrets) : undefined;
    const tokens = new AdminTokens(secrets.adminTokens);

    this.tls.load();
    this.tls.watch(this.options.tlsReloadMs ?? 10_000, (m) => (this.http?.server as unknown as { setSecureContext(o: object): void } | undefined)?.setSecureContext(tlsServerOptions(m)));
    const opened = await openNodeData(this.spec.dataDir, publicKey);
    this.data = opened;
    try {
      const { catalog, store, db } = opened;
      const { dropped, adopted, deleted } = opened.reconciled;
      if (dropped.length || adopted.length || deleted.length) {
        this.log.warn({ dropped: dropped.length, adopted: adopted.length, deleted: deleted.length }, 'store reconciled with disk at start-up');
      }
      const tuning = { ...DEFAULT_TUNING, ...this.options.tuning };
      const common = { topology, spec: this.spec, secrets, catalog, store, db, metrics: this.metrics, log: this.log, tuning };
      if (signingKeys) this.primary = await PrimaryRole.build(common, signingKeys);
      this.metrics.onScrape(() => this.updateGauges());
      this.children = new ChildStatuses(topology, this.spec, tuning.statusStaleMs);
      const reports = await ReportStore.open(db, this.metrics);
      const rollup = new ReportRollup(topology, this.spec, reports, tuning.statusStaleMs);
      for (const file of await reports.loadImported()) {
        try {
          rollup.adoptFile(file);
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'a report file imported earlier no longer fits the topology; ignored');
        }
      }
      this.rollup = rollup;
      const named = await NamedTokens.open(sublevels(db).tokens);
      const audit = (this.audit = await AuditLog.open(sublevels(db).audit, (err) => this.log.error({ err: err.message }, 'could not write the summary of refused acts to the audit trail')));
      const auditRollup = new AuditRollup(topology, this.spec, audit, tuning.statusStaleMs);
      await this.primary?.buildPromotions(common, { reports: () => rollup.subtree(), audit });
      // Still accepted, as admin: a shared list names no person and cannot be narrowed to a role.
      if (this.spec.isPrimary && !tokens.configured && named.size === 0) this.log.warn('SLUICE_ADMIN_TOKEN is not set and no named token exists: this primary will refuse every publish and approval until an admin token is given');
      if (tokens.configured) this.log.warn('the tokens of SLUICE_ADMIN_TOKEN act as admin on every route; give each person a named token with the role they need ("sluice token add NAME --role ...") and then empty the list');
      if (!this.spec.isPrimary) {
        this.downstream = new DownstreamRole({
          ...common,
          client: this.client,
          children: this.children,
          rollup,
          auditRollup,
          ownStatus: () => {
            const { children: _below, ...own } = this.status(20);
            return own;
          },
        });
      }
      await this.listen(this.httpDeps(new Credentials(tokens, named), audit, auditRollup, reports, rollup));
      this.downstream?.start();
      this.primary?.start();
      this.ready = true;
      this.log.info({ url: this.address.url, catalogSeq: catalog.seq, blobs: store.stats().blobs, primary: this.spec.isPrimary }, 'node ready');
    } catch (err) {
      await this.close();
      throw toSluiceError(err, `node ${this.spec.name} failed to start`);
    }
  }

  /** What the HTTP layer is given: every route and the console read the node through it. */
  private httpDeps(credentials: Credentials, audit: AuditLog, auditRollup: AuditRollup, reports: ReportStore, rollup: ReportRollup): HttpDeps {
    const { topology, secrets } = this.options;
    const { catalog, store } = this.data!;
    const refusals = new RefusalThrottle(
      (fields, message) => this.log.warn(fields, message),
      (kind) => this.metrics.authRefusals.inc({ kind }),
    );
    return {
      topology,
      node: this.spec,
      store,
      catalog,
      writer: this.primary?.writer,
      credentials,
      audit,
      auditRollup,
      ...(secrets.oidcClientSecret ? { oidcClientSecret: secrets.oidcClientSecret } : {}),
      sessions: new ConsoleSessions(credentials, { access: topology.access }),
      refusals,
      peerAuth: this.peerAuth(refusals),
      tls: this.tls.served,
      endpointTokens: new AdminTokens(secrets.endpointTokens, 'SLUICE_ENDPOINT_TOKEN'),
      reports,
      rollup,
      children: this.children!,
      verify: () => this.verify(),
      importExport: (dir: string, maxAgeMs?: number) => this.importExport(dir, maxAgeMs),
      downloads: (this.primary?.downloader ?? this.downstream?.downloader)!,
      updates: new UpdatesCache({ catalog, node: this.spec, store, topology, metrics: this.metrics }),
      ...(this.primary?.feeds ? { feeds: this.primary.feeds } : {}),
      ...(this.primary?.promotions ? { promotions: this.primary.promotions } : {}),
      ...(this.primary?.approvalCheck ? { approvalCheck: this.primary.approvalCheck } : {}),
      ...(this.primary?.vendor ? { checkRestored: (sha256: string, path: string) => this.primary!.vendor!.checkHeld(sha256, path) } : {}),
      ...(this.primary?.feedState ? { advisories: this.primary.feedState } : {}),
      apt: new AptServing(catalog, store, fingerprintOf),
      rpm: new RpmServing(catalog, store, fingerprintOf),
      egress: new EgressLimiter(this.spec.egress.rateBytesPerSec, this.spec.egress.perChildBytesPerSec),
      metrics: this.metrics,
      logger: this.log,
      isReady: () => (this.ready ? { ready: true } : { ready: false, reason: 'starting' }),
      status: () => this.status(),
      maxUploadBytes: this.options.maxUploadBytes ?? 64 * 1024 ** 3,
      idleTimeoutMs: this.options.httpIdleTimeoutMs ?? HTTP_LIMITS.idleTimeoutMs,
    };
  }

  /** Builds the server (API and console), listens, and keeps its certificate current. */
  private async listen(deps: HttpDeps): Promise<void> {
    const http = (this.http = buildHttpServer(deps));
    // The console is a plugin of the node's server like the API, registered here so that
    // http/ and console/ never import each other.
    registerConsole(http, deps);
    const host = this.options.listenOverride?.host ?? this.spec.listenHost;
    const port = this.options.listenOverride?.port ?? this.spec.listenPort;
    try {
      await http.listen({ host, port });
    } catch (err) {
      throw new SluiceError('LISTEN_FAILED', `node ${this.spec.name} cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); free the port or change "listen"/"url" in the topology`, { cause: err });
    }
  }

  /** This node's status with its subtree (protocol/status.ts; `sluice status --json`). */
  status(maxTransfers = 100): NodeStatus {
    const site = this.downstream?.site;
    return buildNodeStatus(
      {
        spec: this.spec,
        ready: this.ready,
        catalog: this.data?.catalog,
        store: this.data?.store,
        downstream: this.downstream,
        schedule: this.downstream?.schedule,
        children: this.children,
        lost: () => this.primary?.lost.list() ?? [],
        vendor: this.primary?.vendor,
        site: site ? { name: site.name, redisUp: site.link.up, fallbackShare: site.budget.fallbackShare } : undefined,
      },
      maxTransfers,
    );
  }

  /** Takes an export (sluice export) from a directory: verified, then replication carries on from it. */
  async importExport(dir: string, maxAgeMs?: number): Promise<ImportReport> {
    if (this.spec.isPrimary) throw new SluiceError('NOT_PRIMARY', `node ${this.spec.name} is the primary: it writes the catalog, exports come from it; import into a downstream node`);
    const report = await importExport(dir, { topology: this.options.topology, spec: this.spec, catalog: this.catalog, store: this.store, ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) });
    this.log.info({ dir, ...report.catalog, ...report.blobs }, 'export imported');
    this.downstream?.planner.refresh();
    return report;
  }

  /** Re-hashes every stored blob; failures are quarantined and, on a downstream node, fetched again. */
  async verify() {
    const report = await verifyStore(this.store);
    if (report.quarantined.length) this.log.error({ quarantined: report.quarantined }, 'blobs failed verification and were quarantined');
    if (report.missing.length) this.log.error({ missing: report.missing }, 'blobs whose file is gone were forgotten');
    if (report.unreadable.length) this.log.warn({ unreadable: report.unreadable }, 'some blobs could not be read; they are kept (run verify again)');
    this.downstream?.planner.refresh();
    return { node: this.spec.name, ...report };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.ready = false;
      this.tls.stop();
      const data = this.data;
      // One bound for the whole drain, not one per step: the server stops taking requests at
      // once and gives in-flight ones until the deadline, while the roles stop their work.
      const deadline = Date.now() + DRAIN_MS;
      const draining = this.http ? closeDrained(this.http, deadline, () => data?.catalog.wakeAll()) : undefined;
      // Its failure is reported by its step below, not as an unhandled rejection meanwhile.
      draining?.catch(() => undefined);
      const first = await runCloseSteps([...(this.primary?.closeSteps() ?? []), ...(this.downstream?.closeSteps() ?? []), ['http', () => draining]], this.log, deadline);
      // What remains is local and quick: it runs whatever the drain took.
      const after = await runCloseSteps(
        [
          ['audit', () => this.audit?.close()],
          ['data', () => data?.close()],
          ['peer connections', () => this.client.close()],
        ],
        this.log,
      );
      const failure = first ?? after;
      if (failure) throw toSluiceError(failure, `closing node ${this.spec.name}`);
    })();
    return this.closing;
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

  /** Each layer samples its own gauges at a scrape. */
  private updateGauges(): void {
    if (!this.data) return;
    sampleStoreGauges(this.metrics, this.data.store, this.spec.dataDir);
    sampleCatalogGauges(this.metrics, this.data.catalog);
    this.downstream?.updateMetrics();
    // The primary's transfers are its vendor files: the same gauges.
    this.primary?.downloader.updateMetrics();
    this.metrics.blobsLost.set(this.primary?.lost.list().length ?? 0);
    if (this.rollup) sampleComplianceGauges(this.metrics, this.data.catalog.state, this.options.topology, this.rollup.subtree());
  }
}
