import type { CatalogLog } from '../catalog/catalog-log.js';
import type { TransferView } from '../download/task.js';
import { transferStatuses } from '../download/transfer-status.js';
import type { Metrics } from '../metrics/metrics.js';
import { forecastPackages, type PackageForecast, type PendingPackage } from '../schedule/forecast.js';
import type { BlobStore } from '../store/blob-store.js';
import type { NodeSpec, ScheduleWindow, Topology } from '../topology/types.js';
import type { WantedBlob } from './wanted.js';

/**
 * What replication still has to do and when it should be done: pending blobs and bytes
 * (counted from what partial files already hold), transfers for status, per-package
 * forecast through the schedule, and the gauges. Reads the planner's wanted set and the
 * downloader's transfers; changes neither.
 */
export class ReplicationProgress {
  private forecastCache: { at: number; key: string; value: PackageForecast[] } | undefined;
  private missingCache: { wanted: ReadonlyMap<string, WantedBlob>; removals: number; held: number; blobs: WantedBlob[] } | undefined;

  constructor(
    private readonly d: { readonly topology: Topology; readonly spec: NodeSpec; readonly catalog: CatalogLog; readonly store: BlobStore; readonly metrics: Metrics; readonly forecastSchedule?: () => readonly ScheduleWindow[] },
    private readonly view: () => { wanted: ReadonlyMap<string, WantedBlob>; transfers: ReadonlyMap<string, TransferView> },
  ) {}

  /** Snapshot for status and metrics: the first `maxTransfers` transfers in status order. */
  progress(maxTransfers = Infinity) {
    const { transfers } = this.view();
    let pendingBytes = 0;
    const missing = this.missing();
    for (const blob of missing) pendingBytes += blob.size - (transfers.get(blob.sha256)?.offset ?? 0);
    return { pendingBytes, pendingBlobs: missing.length, transfers: transferStatuses(transfers, maxTransfers) };
  }

  /**
   * Wanted blobs not stored here. Status is asked for often (pushes, the console, scripts
   * polling), and the full scan costs a lookup per wanted blob: a node holding 100,000 blobs
   * and missing 3 scanned 100,000. The last answer is narrowed instead while it still holds
   * (the same wanted set, nothing removed from the store since: blobs only arrived), and
   * reused as it is while the store has not changed at all.
   */
  private missing(): WantedBlob[] {
    const { wanted } = this.view();
    const store = this.d.store;
    const { blobs: held } = store.stats();
    const last = this.missingCache;
    const valid = last && last.wanted === wanted && last.removals === store.removals;
    if (valid && last.held === held) return last.blobs;
    const blobs: WantedBlob[] = [];
    for (const blob of valid ? last.blobs : wanted.values()) if (!store.has(blob.sha256)) blobs.push(blob);
    this.missingCache = { wanted, removals: store.removals, held, blobs };
    return blobs;
  }

  /** Packages with blobs still missing here, with the bytes each still needs. */
  pendingPackages(): PendingPackage[] {
    const { transfers } = this.view();
    const out = new Map<string, { id: string; severity: PendingPackage['severity']; approvedAtMs: number; bytes: number }>();
    for (const blob of this.missing()) {
      const remaining = blob.size - (transfers.get(blob.sha256)?.offset ?? 0);
      blob.packages.forEach((id, i) => {
        let entry = out.get(id);
        if (!entry) {
          const pkg = this.d.catalog.state.get(id);
          entry = { id, severity: pkg?.severity ?? blob.severity, approvedAtMs: (pkg && this.d.catalog.state.approvedAtMs(pkg)) ?? blob.approvedAtMs, bytes: 0 };
          out.set(id, entry);
        }
        // A blob shared by several packages is counted once.
        if (i === 0) entry.bytes += remaining;
      });
    }
    return [...out.values()];
  }

  /**
   * When each pending package should be here, given the schedule; which will be late.
   * Recomputed when the set of pending packages changes, else at most every 10 s (status
   * pushes and requests ask far more often than bytes move the forecast).
   */
  forecast(now = new Date()): PackageForecast[] {
    const pending = this.pendingPackages();
    const key = pending.map((p) => p.id).sort().join('\n');
    const cached = this.forecastCache;
    if (cached && cached.key === key && now.getTime() - cached.at < 10_000) return cached.value;
    const region = this.d.topology.regions.get(this.d.spec.region)!;
    const value = forecastPackages(pending, { schedule: this.d.forecastSchedule?.() ?? this.d.spec.schedule ?? region.schedule, timezone: region.timezone, critical: region.critical }, this.d.topology.deadlinesMs, now);
    this.forecastCache = { at: now.getTime(), key, value };
    return value;
  }

  updateMetrics(): void {
    const now = Date.now();
    const overdue: Record<string, number> = { critical: 0, important: 0, moderate: 0, low: 0 };
    for (const p of this.pendingPackages()) if (now > p.approvedAtMs + this.d.topology.deadlinesMs[p.severity]) overdue[p.severity]!++;
    for (const [severity, n] of Object.entries(overdue)) this.d.metrics.overduePackages.set({ severity }, n);
    const { pendingBytes, pendingBlobs } = this.progress(0);
    this.d.metrics.pendingBytes.set(pendingBytes);
    this.d.metrics.pendingBlobs.set(pendingBlobs);
  }
}
