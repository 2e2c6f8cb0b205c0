import type { CatalogLog } from '../catalog/catalog-log.js';
import type { LastErrorView } from '../download/last-error.js';
import type { PackageForecast } from '../schedule/forecast.js';
import { CLOCK_SKEW_WARN_SECONDS, PENDING_PACKAGES_SHOWN, type NodeStatus, type TransferStatus } from '../protocol/status.js';
import type { ScheduleController } from '../schedule/schedule-controller.js';
import type { BlobStore } from '../store/blob-store.js';
import type { NodeSpec } from '../topology/types.js';
import { VERSION } from '../version.js';
import type { ChildStatuses } from './status-rollup.js';

/** The parts of a node its status is read from; any may be absent while it starts. */
export interface StatusParts {
  readonly spec: NodeSpec;
  readonly ready: boolean;
  readonly catalog: CatalogLog | undefined;
  readonly store: BlobStore | undefined;
  /** A downstream node's replication: its planner's progress and forecast, its upstream, its last error, blobs missing upstream. */
  readonly downstream:
    | {
        readonly planner: { progress(max: number): { pendingBytes: number; pendingBlobs: number; transfers: TransferStatus[] }; forecast(): PackageForecast[] };
        upstreamView(): { preferred: string; current: string; lastSyncAt: number | undefined; clockSkew: ReadonlyMap<string, number> };
        readonly errors: { readonly view: LastErrorView | undefined };
        readonly downloader: { missing(): NodeStatus['missing'] };
      }
    | undefined;
  readonly schedule: ScheduleController | undefined;
  readonly children: ChildStatuses | undefined;
  /** On the primary with feeds: vendor files being fetched (the vendor is its upstream). */
  readonly vendor?: { transfers(max: number): TransferStatus[]; pending(): { blobs: number; bytes: number }; pendingPackages(): string[] } | undefined;
  /** On the primary: catalogued blobs whose file is gone. */
  readonly lost: () => { sha256: string; packages: string[] }[];
  /** A sibling of a site: whether its Redis is reachable, and its share of the rate without it. */
  readonly site?: { readonly name: string; readonly redisUp: boolean; readonly fallbackShare: number } | undefined;
}

/**
 * This node's status and, below it, the last status each downstream node pushed (with
 * theirs), in the wire shape of protocol/status.ts.
 */
export function buildNodeStatus(p: StatusParts, maxTransfers = 100): NodeStatus {
  const head = p.catalog?.head;
  const progress = p.downstream?.planner.progress(maxTransfers);
  const forecast = p.downstream?.planner.forecast() ?? [];
  const etas = forecast.map((f) => f.eta);
  const upstream = p.downstream?.upstreamView();
  const lost = p.lost();
  const missing = p.downstream?.downloader.missing() ?? [];
  // Which packages are still on their way here: what a by-ring view tells "holds" from "fetching" by.
  const pendingIds = p.downstream ? forecast.map((f) => f.id) : (p.vendor?.pendingPackages() ?? []);
  return {
    node: p.spec.name,
    primary: p.spec.isPrimary,
    region: p.spec.region,
    rings: [...p.spec.rings],
    version: VERSION,
    at: new Date().toISOString(),
    ready: p.ready,
    upstream: upstream
      ? {
          preferred: upstream.preferred,
          current: upstream.current,
          lastSyncAt: upstream.lastSyncAt ? new Date(upstream.lastSyncAt).toISOString() : null,
          clockSkewSeconds: upstream.clockSkew.get(upstream.current) ?? null,
        }
      : null,
    catalog: { seq: p.catalog?.seq ?? 0, headExpires: head?.expires ?? null },
    store: p.store?.stats() ?? { blobs: 0, bytes: 0 },
    pending: {
      ...(progress ? { blobs: progress.pendingBlobs, bytes: progress.pendingBytes } : (p.vendor?.pending() ?? { blobs: 0, bytes: 0 })),
      packages: pendingIds.slice(0, PENDING_PACKAGES_SHOWN),
      morePackages: Math.max(0, pendingIds.length - PENDING_PACKAGES_SHOWN),
    },
    transfers: progress?.transfers ?? p.vendor?.transfers(maxTransfers) ?? [],
    rate: p.schedule
      ? {
          limitBytesPerSec: Number.isFinite(p.schedule.current.rateBytesPerSec) ? p.schedule.current.rateBytesPerSec : null,
          unlimited: p.schedule.current.rateBytesPerSec === Infinity,
          window: p.schedule.current.window,
          nextChangeAt: p.schedule.current.nextChangeAt,
          ...(p.schedule.current.background ? { background: p.schedule.current.background } : {}),
        }
      : null,
    forecast: {
      // When everything pending should be here; null if some of it is beyond the horizon (paused).
      doneAt: forecast.length === 0 ? null : etas.includes(null) ? null : etas.sort().at(-1)!,
      pendingPackages: forecast.length,
      late: forecast.filter((f) => f.late).slice(0, 20),
    },
    lastError: p.downstream?.errors.view ?? null,
    missing: missing.slice(0, 20),
    lost: lost.slice(0, 20),
    warnings: [...warnings(upstream?.clockSkew, lost, missing), ...(p.site && !p.site.redisUp ? [`the Redis of site ${p.site.name} is unreachable: this node keeps to ${Math.round(p.site.fallbackShare * 100)}% of the site's rate and fetches blobs without leases (a blob may cross the WAN once per sibling) until it is back`] : [])],
    children: p.children?.snapshot() ?? {},
  };
}

/** Conditions an operator should act on, one sentence each. */
function warnings(skews: ReadonlyMap<string, number> | undefined, lost: readonly unknown[], missing: NodeStatus['missing']): string[] {
  const out: string[] = [];
  for (const [peer, skew] of skews ?? []) {
    if (Math.abs(skew) > CLOCK_SKEW_WARN_SECONDS) out.push(`the clock of ${peer} differs from this node's by ${skew} s: head expiry and lag are judged wrongly; check NTP on both hosts`);
  }
  if (lost.length) out.push(`${lost.length} catalogued blob(s) are missing from this primary's store; re-publish each file with "sluice restore FILE"`);
  for (const m of missing) out.push(`${m.peer} has answered 404 for blob ${m.sha256.slice(0, 12)}… (${m.packages.join(', ')}) since ${m.since}`);
  return out;
}
