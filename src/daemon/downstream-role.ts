import { PATHS } from '../protocol/paths.js';
import type { PeerClient } from '../protocol/peer-client.js';
import { probeDelayMs } from '../protocol/probe-delay.js';
import { SubtreePusher, type PushedEntry } from '../protocol/subtree-pusher.js';
import { Replicator } from '../replicate/replicator.js';
import { statusChangeKey, type ChildStatuses, type OwnStatus } from '../replicate/status-rollup.js';
import type { ReportRollup } from '../reports/rollup.js';
import { auditChangeKey, type AuditRollup, type RecentAudit } from '../audit/audit-rollup.js';
import type { SiteSummary } from '../reports/report-store.js';
import { ScheduleController } from '../schedule/schedule-controller.js';
import { BlobLeases } from '../site/blob-leases.js';
import { RedisLink } from '../site/redis-link.js';
import { SiteBudget } from '../site/site-budget.js';
import { runCloseSteps, type CloseStep } from './close-steps.js';
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
 * What every node but the primary runs once it serves: its region's schedule (background
 * windows probe the path to the current upstream), the site link and shared budget when it
 * has sibling nodes, the replicator, and the pushes of status and report figures upstream.
 */
export class DownstreamRole {
  readonly schedule: ScheduleController;
  readonly replicator: Replicator;
  readonly site: { readonly name: string; readonly link: RedisLink; readonly budget: SiteBudget } | undefined;
  private statusPusher: SubtreePusher<OwnStatus> | undefined;
  private reportPusher: SubtreePusher<SiteSummary> | undefined;
  private auditPusher: SubtreePusher<RecentAudit> | undefined;

  private constructor(p: DownstreamParts) {
    const { topology, spec } = p;
    const region = topology.regions.get(spec.region)!;
    // Background windows feel the path's delay to the current upstream, and ask it to send at their rate.
    const probe = async (rateBytesPerSec: number) => {
      const peer = this.replicator?.currentUpstream();
      return peer ? probeDelayMs(peer.url, p.client.dispatcher, spec.name, { rateBytesPerSec, peerToken: p.secrets.peerToken }) : undefined;
    };
    this.schedule = new ScheduleController(spec.schedule ?? region.schedule, region.timezone, region.critical, p.metrics, p.log.child({ component: 'schedule' }), Date.now, probe);
    const site = spec.site ? topology.sites.get(spec.site) : undefined;
    if (site) {
      const link = new RedisLink(site.redisUrl, p.log.child({ component: 'site' }), (up) => p.metrics.siteRedisUp.set(up ? 1 : 0));
      p.metrics.siteRedisUp.set(0);
      this.site = { name: site.name, link, budget: new SiteBudget(this.schedule.budget, site, link) };
    }
    this.replicator = new Replicator({
      ...(site && this.site ? { site: { budget: this.site.budget, leases: new BlobLeases(site, spec.name, this.site.link), siblingUrl: (name: string) => topology.nodes.get(name)!.url } } : {}),
      topology,
      spec,
      catalog: p.catalog,
      store: p.store,
      db: p.db,
      metrics: p.metrics,
      log: p.log,
      tuning: p.tuning,
      schedule: this.schedule,
      graceMs: topology.graceMs,
      client: p.client,
      onBacklog: () => this.statusPusher?.soon(),
    });
    p.relays.attach(this.replicator);
  }

  /** Builds and starts the role: replication, then the pushes upstream. */
  static async start(p: DownstreamParts): Promise<DownstreamRole> {
    const role = new DownstreamRole(p);
    try {
      await role.run(p);
    } catch (err) {
      // Half started: what did start is stopped here, the caller has no role to close.
      await runCloseSteps(role.closeSteps(), p.log);
      throw err;
    }
    return role;
  }

  private async run(p: DownstreamParts): Promise<void> {
    this.schedule.start();
    await this.replicator.start();
    const push = { self: p.spec, upstream: () => this.replicator.currentUpstream(), peerToken: p.secrets.peerToken, everyMs: p.tuning.statusPushMs, client: p.client };
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

  /** In order: stop pushing, stop fetching, then the schedule and the site link. */
  closeSteps(): CloseStep[] {
    return [
      ['status', () => this.statusPusher?.close()],
      ['reports', () => this.reportPusher?.close()],
      ['audit', () => this.auditPusher?.close()],
      ['replication', () => this.replicator.close()],
      ['schedule', () => this.schedule.close()],
      ['site', () => this.site?.link.close()],
    ];
  }
}
