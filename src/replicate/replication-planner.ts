import type { CatalogLog } from '../catalog/catalog-log.js';
import type { Downloader } from '../download/downloader.js';
import { priorityOf } from '../download/priority.js';
import type { Source, Want } from '../download/want.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PackageForecast, PendingPackage } from '../schedule/forecast.js';
import type { BlobStore } from '../store/blob-store.js';
import type { NodeSpec, ScheduleWindow, Topology } from '../topology/types.js';
import type { GarbageCollector } from './garbage-collector.js';
import { ReplicationProgress } from './progress.js';
import { wantedBlobs, type WantedBlob } from './wanted.js';

export interface PlannerParts {
  readonly topology: Topology;
  readonly spec: NodeSpec;
  readonly catalog: CatalogLog;
  readonly store: BlobStore;
  readonly metrics: Metrics;
  /** The node's one downloader: it is told what is wanted, it fetches. */
  readonly downloader: Downloader;
  /** Where this node's blobs come from: its upstream (or a fallback), its site's siblings. */
  readonly source: Source;
  /** Removes what is no longer wanted once the grace period (policy.grace) is over. */
  readonly gc: GarbageCollector;
  readonly gcEveryMs: number;
  /** The windows the forecast reads (the schedule's, background mode included). */
  readonly forecastSchedule?: () => readonly ScheduleWindow[];
  /** Called when the catalog gave this node blobs to fetch that it had not queued before. */
  readonly onBacklog?: () => void;
}

/**
 * What a downstream node should hold versus what it holds: after each catalog change it
 * computes the wanted blobs (its own and its subtree's, wanted.ts) and tells the downloader,
 * most urgent first (severity, then approval time: download/priority.ts); blobs no longer
 * wanted are withdrawn there and removed here after the grace period, unless another wanted
 * package shares them. It reads progress and the forecast off the downloader; it never fetches.
 */
export class ReplicationPlanner {
  private wanted = new Map<string, WantedBlob>();
  private gcTimer: NodeJS.Timeout | undefined;
  private stopListening: (() => void) | undefined;
  private readonly report: ReplicationProgress;

  constructor(private readonly parts: PlannerParts) {
    this.report = new ReplicationProgress({ ...parts, ...(parts.forecastSchedule ? { forecastSchedule: parts.forecastSchedule } : {}) }, () => ({ wanted: this.wanted, transfers: parts.downloader.transfers }));
  }

  /** Plans from the catalog held now, then collects unwanted blobs every `gcEveryMs`. */
  start(): void {
    // The time from approval to holding the blob here: replication lag.
    this.stopListening = this.parts.downloader.onStored((want) => {
      const blob = this.wanted.get(want.sha256);
      if (blob) this.parts.metrics.replicationLag.observe(Math.max(0, (Date.now() - blob.approvedAtMs) / 1000));
    });
    this.refresh();
    this.gcTimer = setInterval(() => void this.parts.gc.collect(this.wanted), this.parts.gcEveryMs);
    this.gcTimer.unref();
  }

  close(): void {
    clearInterval(this.gcTimer);
    this.stopListening?.();
  }

  /** Recomputes what to hold after the catalog (or the store) changed, and tells the downloader. */
  refresh(): void {
    this.wanted = wantedBlobs(this.parts.topology, this.parts.spec, this.parts.catalog.state);
    const wants = new Map<string, Want>();
    for (const [sha, blob] of this.wanted) wants.set(sha, { sha256: sha, size: blob.size, priority: priorityOf(blob), source: this.parts.source, severity: blob.severity, packages: blob.packages });
    // New backlog here is news for the tree's forecast: status goes up soon, not at its next tick.
    if (this.parts.downloader.want(wants) > 0) this.parts.onBacklog?.();
    this.parts.gc.note(this.wanted);
    if (this.parts.topology.graceMs === 0) void this.parts.gc.collect(this.wanted);
  }

  /** Pending blobs and bytes, and the first `maxTransfers` transfers in status order (status). */
  progress(maxTransfers?: number) {
    return this.report.progress(maxTransfers);
  }

  pendingPackages(): PendingPackage[] {
    return this.report.pendingPackages();
  }

  forecast(now = new Date()): PackageForecast[] {
    return this.report.forecast(now);
  }

  /** Progress gauges (pending, overdue). */
  updateMetrics(): void {
    this.report.updateMetrics();
  }
}
