import { BlobBatcher } from '../download/blob-batcher.js';
import { freeBytesOf } from '../download/disk-space.js';
import { Downloader } from '../download/downloader.js';
import { LastError } from '../download/last-error.js';
import { PeerSource } from '../download/peer-source.js';
import { PeerSelector } from '../download/peers.js';
import { PATHS } from '../protocol/paths.js';
import type { PeerClient } from '../protocol/peer-client.js';
import { probeDelayMs } from '../protocol/probe-delay.js';
import type { PushedEntry } from '../protocol/subtree-push.js';
import { SubtreePusher } from '../replicate/subtree-pusher.js';
import { CatalogFollower } from '../replicate/catalog-follower.js';
import { GarbageCollector } from '../replicate/garbage-collector.js';
import { ReplicationPlanner } from '../replicate/replication-planner.js';
import { statusChangeKey, type ChildStatuses, type OwnStatus } from '../status/status-rollup.js';
import type { ReportRollup } from '../reports/rollup.js';
import { auditChangeKey, type AuditRollup, type RecentAudit } from '../audit/audit-rollup.js';
import type { SiteSummary } from '../reports/report-store.js';
import { ScheduleController } from '../schedule/schedule-controller.js';
import { BlobLeases } from '../site/blob-leases.js';
import { RedisLink } from '../site/redis-link.js';
import { SiteBudget } from '../site/site-budget.js';
import type { CloseStep } from './close-steps.js';
import type { NodeParts } from './node-parts.js';

export interface DownstreamParts extends NodeParts {
  readonly client: PeerClient;
  readonly children: ChildStatuses;
  readonly rollup: ReportRollup;
  readonly auditRollup: AuditRollup;
  /** This node's own status, its subtree left out (pushed with the children's entries). */
  readonly ownStatus: () => OwnStatus;
}

/**
 * What every node but the primary runs: its region's schedule (background windows probe the
 * path to the current upstream), the site link and shared budget when it has sibling nodes,
 * the upstream it pulls from (peers.ts), the catalog follower, the replication planner and
 * the downloader it tells what to fetch, and the pushes of status, report figures and audit
 * entries upstream. Built before the node serves (the blob route relays through its
 * downloader), started once it does.
 */
export class DownstreamRole {
  readonly schedule: ScheduleController;
  readonly site: { readonly name: string; readonly link: RedisLink; readonly budget: SiteBudget } | undefined;
  readonly peers: PeerSelector;
  /** The node's last error, and whether it still holds: catalog sync and transfers. */
  readonly errors = new LastError();
  readonly downloader: Downloader;
  readonly planner: ReplicationPlanner;
  private readonly follower: CatalogFollower;
  private readonly stopFollowing = new AbortController();
  private statusPusher: SubtreePusher<OwnStatus> | undefined;
  private reportPusher: SubtreePusher<SiteSummary> | undefined;
  private auditPusher: SubtreePusher<RecentAudit> | undefined;

  constructor(private readonly parts: DownstreamParts) {
    const p = parts;
    const { topology, spec, tuning } = p;
    const region = topology.regions.get(spec.region)!;
    this.peers = new PeerSelector(topology, spec, tuning.peerFailures, tuning.probeMs, p.metrics, p.log.child({ component: 'peers' }), p.client);
    // Background windows feel the path's delay to the current upstream, and ask it to send at their rate.
    const probe = (rateBytesPerSec: number) => probeDelayMs(this.peers.current().url, p.client.dispatcher, spec.name, { rateBytesPerSec, peerToken: p.secrets.peerToken });
    this.schedule = new ScheduleController(spec.schedule ?? region.schedule, region.timezone, region.critical, p.metrics, p.log.child({ component: 'schedule' }), Date.now, probe);
    const site = spec.site ? topology.sites.get(spec.site) : undefined;
    let leases: BlobLeases | undefined;
    if (site) {
      const link = new RedisLink(site.redisUrl, p.log.child({ component: 'site' }), (up) => p.metrics.siteRedisUp.set(up ? 1 : 0));
      p.metrics.siteRedisUp.set(0);
      this.site = { name: site.name, link, budget: new SiteBudget(this.schedule.budget, site, link) };
      leases = new BlobLeases(site, spec.name, link);
    }
    this.downloader = new Downloader({
      store: p.store,
      metrics: p.metrics,
      log: p.log.child({ component: 'download' }),
      tuning,
      budgets: { normal: this.site?.budget ?? this.schedule.budget, critical: this.schedule.criticalBudget },
      freeBytes: () => freeBytesOf(spec.dataDir),
      errors: this.errors,
    });
    const batches = new BlobBatcher({ selfName: spec.name, budget: this.schedule.budget, stallMs: tuning.stallMs, onBytes: (peer, n) => p.metrics.transferBytes.labels({ direction: 'in', peer }).inc(n) });
    const source = new PeerSource({ selfName: spec.name, peers: this.peers, client: p.client, batches, ...(leases ? { site: { leases, siblingUrl: (name: string) => topology.nodes.get(name)!.url } } : {}) });
    this.planner = new ReplicationPlanner({
      topology,
      spec,
      catalog: p.catalog,
      store: p.store,
      metrics: p.metrics,
      downloader: this.downloader,
      source,
      gc: new GarbageCollector(p.store, topology.graceMs, p.log.child({ component: 'gc' })),
      gcEveryMs: tuning.gcEveryMs,
      forecastSchedule: () => this.schedule.forecastSchedule(),
      onBacklog: () => this.statusPusher?.soon(),
    });
    this.follower = new CatalogFollower({
      selfName: spec.name,
      catalog: p.catalog,
      peers: this.peers,
      metrics: p.metrics,
      log: p.log.child({ component: 'catalog' }),
      tuning,
      syncEveryMs: region.syncEveryMs,
      syncJitterMs: region.syncJitterMs,
      onRecords: () => this.planner.refresh(),
      onError: (e) => this.errors.note(e, 'catalog', 'catalog sync'),
      onSynced: () => this.errors.clear('catalog'),
      client: p.client,
    });
  }

  /** Runs the role once the node serves: the schedule, replication, then the pushes upstream. */
  start(): void {
    const p = this.parts;
    this.schedule.start();
    this.planner.start();
    this.downloader.start();
    this.follower.start(this.stopFollowing.signal);
    const push = { self: p.spec, upstream: () => this.peers.current(), peerToken: p.secrets.peerToken, everyMs: p.tuning.statusPushMs, client: p.client };
    const status = new SubtreePusher<OwnStatus>({
      ...push,
      route: PATHS.status,
      log: p.log.child({ component: 'status' }),
      collect: () => new Map<string, PushedEntry<OwnStatus>>([[p.spec.name, { parent: null, value: p.ownStatus(), stale: false }], ...p.children.below()]),
      changeKey: statusChangeKey,
    });
    const reports = new SubtreePusher<SiteSummary>({ ...push, route: PATHS.reportsRollup, log: p.log.child({ component: 'reports' }), collect: () => p.rollup.forPush(), changeKey: (s) => JSON.stringify(s) });
    // An upstream refuses audit entries from a node holding only the tree-wide token (it proves
    // no node name): asked again once a minute, not at every status tick.
    const audit = new SubtreePusher<RecentAudit>({ ...push, route: PATHS.auditRollup, log: p.log.child({ component: 'audit' }), collect: () => p.auditRollup.forPush(), changeKey: auditChangeKey, refusedRetryMs: Math.max(p.tuning.statusPushMs, 60_000) });
    this.statusPusher = status;
    this.reportPusher = reports;
    this.auditPusher = audit;
    // A child's news goes on up within about a second per tier, not at the next tick.
    p.children.onNews = () => status.soon();
    status.start();
    reports.start();
    audit.start();
  }

  /** Which upstream is preferred and in use, the last catalog sync, and each peer's clock skew (status). */
  upstreamView(): { preferred: string; current: string; lastSyncAt: number | undefined; clockSkew: ReadonlyMap<string, number> } {
    return { preferred: this.peers.preferred.name, current: this.peers.current().name, lastSyncAt: this.follower.lastSyncAt, clockSkew: this.follower.clockSkew };
  }

  /** Progress and transfer gauges, and how many blobs each upstream has answered 404 for too long. */
  updateMetrics(): void {
    this.planner.updateMetrics();
    this.downloader.updateMetrics();
    const missing = new Map<string, number>(this.peers.all.map((peer) => [peer.name, 0]));
    for (const m of this.downloader.missing()) missing.set(m.peer, (missing.get(m.peer) ?? 0) + 1);
    for (const [peer, n] of missing) this.parts.metrics.blobsMissingUpstream.set({ peer }, n);
  }

  /** In order: stop pushing, stop following and fetching, then the schedule and the site link. */
  closeSteps(): CloseStep[] {
    return [
      ['status', () => this.statusPusher?.close()],
      ['reports', () => this.reportPusher?.close()],
      ['audit', () => this.auditPusher?.close()],
      [
        'replication',
        async () => {
          this.stopFollowing.abort();
          this.planner.close();
          this.peers.close();
          await Promise.all([this.downloader.close(), this.follower.closed()]);
        },
      ],
      ['schedule', () => this.schedule.close()],
      ['site', () => this.site?.link.close()],
    ];
  }
}
