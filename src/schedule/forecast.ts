import type { ScheduleWindow, Severity } from '../topology/types.js';
import { activeWindow, nextChange } from './windows.js';

const HORIZON_MS = 400 * 86_400_000;

/**
 * When `bytes` will have moved if transfers start at `from` and use every byte the schedule
 * allows; undefined when not within ~400 days (e.g. paused for good).
 */
export function finishTime(schedule: readonly ScheduleWindow[], timezone: string, from: Date, bytes: number): Date | undefined {
  let t = from.getTime();
  let left = bytes;
  const end = t + HORIZON_MS;
  while (t < end) {
    if (left <= 0) return new Date(t);
    const rate = activeWindow(schedule, timezone, new Date(t))?.window.rateBytesPerSec ?? 0;
    if (rate === Infinity) return new Date(t);
    const next = nextChange(schedule, timezone, new Date(t))?.getTime() ?? end;
    const capacity = (rate * (next - t)) / 1000;
    if (capacity >= left) return new Date(t + (left / rate) * 1000);
    left -= capacity;
    t = next;
  }
  return undefined;
}

export interface PendingPackage {
  readonly id: string;
  readonly severity: Severity;
  readonly approvedAtMs: number;
  /** Bytes of this package not yet held here (shared blobs counted once, for the first). */
  readonly bytes: number;
}

export interface PackageForecast {
  readonly id: string;
  readonly severity: Severity;
  readonly bytes: number;
  readonly deadline: string;
  /** null: not within the forecast horizon. */
  readonly eta: string | null;
  readonly late: boolean;
}

/**
 * Expected arrival of each pending package: the most urgent first (severity, then approval),
 * the normal lane draining through the schedule, critical packages through their own lane
 * when it is separate (`bypass`: at once; a rate: at that rate).
 */
export function forecastPackages(
  pending: readonly PendingPackage[],
  lanes: { schedule: readonly ScheduleWindow[]; timezone: string; critical: { kind: 'bypass' } | { kind: 'schedule' } | { kind: 'rate'; rateBytesPerSec: number } },
  deadlinesMs: Readonly<Record<Severity, number>>,
  now: Date,
): PackageForecast[] {
  const order: Severity[] = ['critical', 'important', 'moderate', 'low'];
  const sorted = [...pending].sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity) || a.approvedAtMs - b.approvedAtMs);
  let normalBytes = 0;
  let criticalBytes = 0;
  return sorted.map((p) => {
    let eta: Date | undefined;
    if (p.severity === 'critical' && lanes.critical.kind !== 'schedule') {
      criticalBytes += p.bytes;
      eta = lanes.critical.kind === 'bypass' ? now : new Date(now.getTime() + (criticalBytes / lanes.critical.rateBytesPerSec) * 1000);
    } else {
      normalBytes += p.bytes;
      eta = finishTime(lanes.schedule, lanes.timezone, now, normalBytes);
    }
    const deadline = p.approvedAtMs + deadlinesMs[p.severity];
    return {
      id: p.id,
      severity: p.severity,
      bytes: p.bytes,
      deadline: new Date(deadline).toISOString(),
      eta: eta ? eta.toISOString() : null,
      late: !eta || eta.getTime() > deadline,
    };
  });
}
