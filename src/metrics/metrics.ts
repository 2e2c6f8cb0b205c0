import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PUSH_REFUSALS, REJECT_REASONS, TLS_FAILURE_REASONS, TRANSFER_STATES } from '../domain/labels.js';
import { SEVERITIES } from '../domain/severity.js';
import { ERROR_CATALOGUE } from '../errors.js';
import { REPORT_STATUSES } from '../domain/report-statuses.js';


/**
 * Every metric a node exposes, declared in one place on the node's own Registry (several
 * nodes can share a process in `sluice up`, so the global registry is never used).
 * Labels take values from fixed sets or topology node names only.
 */
export function createMetrics(nodeName: string, version: string, peers: { readonly upstreams: readonly string[]; readonly children: readonly string[] } = { upstreams: [], children: [] }) {
  const registry = new Registry();
  // Process and runtime metrics under the names every Node.js dashboard and alert expects
  // (process_resident_memory_bytes, nodejs_eventloop_lag_seconds, ...); Sluice's own carry sluice_.
  // The event-loop delay histogram samples with a timer; prom-client's default of every
  // 10 ms woke an idle node 100 times a second (half its idle CPU, and a tree of a hundred
  // nodes on one machine is a hundred of them). Once a second still shows a saturated loop
  // in nodejs_eventloop_lag_p99_seconds; sluice_event_loop_utilization is exact and free.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  // prom-client also exposes these gauges as *_total, a suffix Prometheus reserves for
  // counters (promtool flags them); the same values remain under names without it.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const m = {
    registry,
    eventLoopBusy: eventLoopBusyCounter(registry),
    buildInfo: new Gauge({ name: 'sluice_build_info', help: 'Sluice version and node name; always 1', labelNames: ['version', 'node'], registers: [registry] }),
    transferBytes: new Counter({ name: 'sluice_transfer_bytes_total', help: 'Blob bytes moved, by direction and peer node ("endpoint" for non-nodes)', labelNames: ['direction', 'peer'], registers: [registry] }),
    catalogSeq: new Gauge({ name: 'sluice_catalog_seq', help: 'Sequence number of the newest verified catalog record held here', registers: [registry] }),
    catalogTimestampAge: new Gauge({ name: 'sluice_catalog_timestamp_age_seconds', help: 'Age of the newest verified catalog timestamp held here (the primary renews it; a growing age means the catalog is frozen upstream)', registers: [registry] }),
    rootVersion: new Gauge({ name: 'sluice_catalog_root_version', help: 'Version of the root of trust in force here', registers: [registry] }),
    catalogHeadExpiry: new Gauge({ name: 'sluice_catalog_head_expiry_timestamp_seconds', help: 'When the signed catalog head held here expires (Unix time)', registers: [registry] }),
    storeBytes: new Gauge({ name: 'sluice_store_bytes', help: 'Bytes of verified blobs stored on this node', registers: [registry] }),
    storeBlobs: new Gauge({ name: 'sluice_store_blobs', help: 'Verified blobs stored on this node', registers: [registry] }),
    httpErrors: new Counter({ name: 'sluice_http_errors_total', help: 'HTTP error responses by error code', labelNames: ['code'], registers: [registry] }),
    transfersActive: new Gauge({ name: 'sluice_transfers_active', help: 'Blob transfers receiving bytes now', registers: [registry] }),
    transferQueue: new Gauge({ name: 'sluice_transfer_queue', help: 'Blob transfers by state', labelNames: ['state'], registers: [registry] }),
    pendingBytes: new Gauge({ name: 'sluice_replication_pending_bytes', help: 'Bytes of wanted blobs not yet stored here', registers: [registry] }),
    pendingBlobs: new Gauge({ name: 'sluice_replication_pending_blobs', help: 'Wanted blobs not yet stored here', registers: [registry] }),
    replicationLag: new Histogram({
      name: 'sluice_replication_lag_seconds',
      help: 'Time from approval at the primary to verified storage on this node',
      buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400],
      registers: [registry],
    }),
    catalogRejected: new Counter({ name: 'sluice_catalog_rejected_total', help: 'Catalog responses from an upstream rejected, by reason', labelNames: ['reason'], registers: [registry] }),
    hashMismatch: new Counter({ name: 'sluice_hash_mismatch_total', help: 'Transfers whose bytes did not hash to the catalog sha256 (discarded)', registers: [registry] }),
    transferRetries: new Counter({ name: 'sluice_transfer_retries_total', help: 'Transfer attempts that failed and were scheduled again', registers: [registry] }),
    transferResumes: new Counter({ name: 'sluice_transfer_resumes_total', help: 'Transfers continued from a partial file', registers: [registry] }),
    upstreamLastSync: new Gauge({ name: 'sluice_upstream_last_sync_timestamp_seconds', help: 'Last verified catalog sync from each upstream (Unix time)', labelNames: ['peer'], registers: [registry] }),
    rateLimit: new Gauge({ name: 'sluice_rate_limit_bytes_per_second', help: 'Ingress rate allowed now by the schedule; -1 when unlimited, 0 when paused or no window matches', registers: [registry] }),
    scheduleWindow: new Gauge({ name: 'sluice_schedule_window', help: 'Index (from 0) of the schedule window in force; -1 when none matches', registers: [registry] }),
    filesystemAvail: new Gauge({ name: 'sluice_data_filesystem_avail_bytes', help: 'Bytes available to Sluice on the filesystem of the data directory', registers: [registry] }),
    filesystemSize: new Gauge({ name: 'sluice_data_filesystem_size_bytes', help: 'Size of the filesystem of the data directory', registers: [registry] }),
    reports: new Counter({ name: 'sluice_reports_total', help: 'Endpoint install reports received, by status', labelNames: ['status'], registers: [registry] }),
    compliance: new Gauge({ name: 'sluice_compliance_ratio', help: 'Share of endpoint installs of approved packages reported compliant in this node\'s subtree, by package severity', labelNames: ['severity'], registers: [registry] }),
    overduePackages: new Gauge({ name: 'sluice_overdue_packages', help: 'Approved packages not yet held here past their severity deadline', labelNames: ['severity'], registers: [registry] }),
    peerClockSkew: new Gauge({ name: 'sluice_peer_clock_skew_seconds', help: 'The upstream peer\'s clock minus this node\'s, from its last answer (whole seconds)', labelNames: ['peer'], registers: [registry] }),
    blobsMissingUpstream: new Gauge({ name: 'sluice_blobs_missing_upstream', help: 'Wanted blobs the peer has answered 404 for longer than the missing threshold, by peer', labelNames: ['peer'], registers: [registry] }),
    blobsRetired: new Counter({ name: 'sluice_blobs_retired_total', help: 'Files the primary deleted under policy.retainSuperseded (superseded or declined long enough)', registers: [registry] }),
    blobsLost: new Gauge({ name: 'sluice_blobs_lost', help: 'Blobs named by the catalog that the primary no longer holds (re-publish them with sluice restore)', registers: [registry] }),
    backgroundRate: new Gauge({ name: 'sluice_background_rate_bytes_per_second', help: 'In a background schedule window: the ingress rate chosen from the path\'s delay (0 outside one)', registers: [registry] }),
    pathDelay: new Gauge({ name: 'sluice_path_delay_seconds', help: 'Delay of the path to the upstream as background mode measures it: the base (lowest of 10 min) and the current', labelNames: ['kind'], registers: [registry] }),
    siteRedisUp: new Gauge({ name: 'sluice_site_redis_up', help: '1 while the site\'s Redis is reachable (sibling nodes share the budget and blob leases through it); absent on nodes without a site', registers: [registry] }),
    pushBytes: new Counter({ name: 'sluice_push_received_bytes_total', help: 'Bytes of status and report pushes received from downstream nodes, by kind', labelNames: ['kind'], registers: [registry] }),
    reportsIgnored: new Counter({ name: 'sluice_reports_ignored_total', help: 'Endpoint reports not counted because they name a package this node does not have in its catalog', registers: [registry] }),
    updatesCacheBytes: new Gauge({ name: 'sluice_updates_cache_bytes', help: 'Bytes of GET /v1/updates answers kept for reuse (bounded; keyed on platforms, languages and rings the catalog names)', registers: [registry] }),
    authRefusals: new Counter({ name: 'sluice_auth_refusals_total', help: 'Calls refused for a wrong or missing token, by what the token was for (admin, endpoint, peer)', labelNames: ['kind'], registers: [registry] }),
    promotionHeld: new Gauge({ name: 'sluice_promotion_held', help: 'Packages whose promotion gate is held by failures in their ring: 1 per package while held (primary only; rings: { R: { promote } })', labelNames: ['package', 'from', 'to'], registers: [registry] }),
    promotions: new Counter({ name: 'sluice_promotions_total', help: 'Packages the primary approved for the next ring because they passed their ring\'s promotion gate', labelNames: ['from', 'to'], registers: [registry] }),
    feedLastSuccess: new Gauge({ name: 'sluice_feed_last_success_timestamp_seconds', help: 'When each vendor feed last synced successfully (Unix time; primary only)', labelNames: ['feed'], registers: [registry] }),
    feedPackagesAdded: new Counter({ name: 'sluice_feed_packages_added_total', help: 'Package versions vendor feeds added to the catalog (state new)', labelNames: ['feed'], registers: [registry] }),
    feedSyncFailures: new Counter({ name: 'sluice_feed_sync_failures_total', help: 'Failed syncs of vendor feeds, by error code (FEED_SIGNATURE, FEED_STALE, ...)', labelNames: ['feed', 'code'], registers: [registry] }),
    feedInterval: new Gauge({ name: 'sluice_feed_interval_seconds', help: 'Each vendor feed\'s sync interval (its every), for alerts on a feed not synced in twice its interval', labelNames: ['feed'], registers: [registry] }),
    feedPackagesRefused: new Counter({ name: 'sluice_feed_packages_refused_total', help: 'Vendor package files the primary refused to store after they arrived (an .rpm unsigned or signed by a key not in its feed\'s keyring), by error code', labelNames: ['feed', 'code'], registers: [registry] }),
    feedValidUntil: new Gauge({ name: 'sluice_feed_valid_until_timestamp_seconds', help: 'The soonest Valid-Until of a vendor feed\'s last accepted Release (Unix time): past it, the feed is stale', labelNames: ['feed'], registers: [registry] }),
    pushesRefused: new Counter({ name: 'sluice_pushes_refused_total', help: 'Status and report pushes refused: from a node not downstream, speaking for another node, naming sites outside its subtree, or with an entry of the wrong shape or size', labelNames: ['reason'], registers: [registry] }),
    tlsHandshakeFailures: new Counter({ name: 'sluice_tls_handshake_failures_total', help: 'TLS connections refused or failed, by reason (as server and as client)', labelNames: ['reason'], registers: [registry] }),
    tlsCertExpiry: new Gauge({ name: 'sluice_tls_certificate_expiry_timestamp_seconds', help: 'When this node\'s TLS certificate expires (Unix time); absent on plain-HTTP nodes', registers: [registry] }),
    upstreamUp: new Gauge({ name: 'sluice_upstream_up', help: '1 while the peer is considered reachable, by peer', labelNames: ['peer'], registers: [registry] }),
  };
  m.buildInfo.set({ version, node: nodeName }, 1);
  // Every label value of a fixed set exists from start-up, so rate() and alerts see a 0.
  for (const reason of REJECT_REASONS) m.catalogRejected.inc({ reason }, 0);
  for (const state of TRANSFER_STATES) m.transferQueue.set({ state }, 0);
  for (const severity of SEVERITIES) m.overduePackages.set({ severity }, 0);
  for (const status of REPORT_STATUSES) m.reports.inc({ status }, 0);
  for (const reason of PUSH_REFUSALS) m.pushesRefused.inc({ reason }, 0);
  for (const kind of ['status', 'reports', 'audit']) m.pushBytes.inc({ kind }, 0);
  // No delay measured outside a background window: NaN, not a made-up 0.
  for (const kind of ['base', 'current']) m.pathDelay.set({ kind }, NaN);
  for (const reason of TLS_FAILURE_REASONS) m.tlsHandshakeFailures.inc({ reason }, 0);
  for (const code of Object.keys(ERROR_CATALOGUE)) m.httpErrors.inc({ code }, 0);
  for (const peer of peers.upstreams) {
    m.transferBytes.inc({ direction: 'in', peer }, 0);
    m.upstreamLastSync.set({ peer }, 0);
    m.peerClockSkew.set({ peer }, 0);
    m.blobsMissingUpstream.set({ peer }, 0);
  }
  for (const peer of [...peers.children, 'endpoint']) m.transferBytes.inc({ direction: 'out', peer }, 0);
  const samplers: (() => void)[] = [];
  return {
    ...m,
    /** Registers a function that refreshes gauges from live state just before each scrape. */
    onScrape(fn: () => void): void {
      samplers.push(fn);
    },
    /** The exposition text, with gauges sampled now rather than on every hot-path event. */
    async scrape(): Promise<string> {
      for (const fn of samplers) fn();
      return registry.metrics();
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Seconds the node's one thread spent busy (not waiting in the event loop), read from libuv
 * when scraped: rate() of it is the loop's utilisation, exact and without a sampling timer.
 */
function eventLoopBusyCounter(registry: Registry): Counter {
  let counted = 0;
  return new Counter({
    name: 'sluice_event_loop_busy_seconds_total',
    help: "Seconds the node's thread was busy rather than waiting for events; rate() is the event loop's utilisation (1 = saturated)",
    registers: [registry],
    collect() {
      const busy = performance.eventLoopUtilization().active / 1000;
      if (busy > counted) this.inc(busy - counted);
      counted = Math.max(counted, busy);
    },
  });
}
