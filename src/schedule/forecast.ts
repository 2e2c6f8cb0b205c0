import type { ScheduleWindow } from '../topology/types.js';
import { bySeverity, type Severity } from '../domain/severity.js';
import { activeWindow, nextChange } from './windows.js';

const HORIZON_MS = 400 * 86_400_000;

/**
 * When `bytes` will have moved if transfers start at `from` and use every byte the schedule
 * allows; undefined when not within ~400 days (e.g. paused for good).
 */
export function finishTime(schedule: readonly ScheduleWindow[], timezone: string, from: Date, bytes: number): Date | undefined {
  return finishTimes(schedule, timezone, from, [bytes])[0];
}

/**
 * finishTime for ascending cumulative byte counts, in one walk over the schedule's windows:
 * a backlog of many packages costs one pass, not one per package.
 */
export function finishTimes(schedule: readonly ScheduleWindow[], timezone: string, from: Date, ascending: readonly number[]): (Date | undefined)[] {
  const out: (Date | undefined)[] = ascending.map(() => undefined);
  let i = 0;
  let t = from.getTime();
  let moved = 0;
  const end = t + HORIZON_MS;
  while (i < ascending.length && t < end) {
    const rate = activeWindow(schedule, timezone, new Date(t))?.window.rateBytesPerSec ?? 0;
    const next = rate === Infinity ? t : (nextChange(schedule, timezone, new Date(t))?.getTime() ?? end);
    const capacity = rate === Infinity ? Infinity : (rate * (next - t)) / 1000;
    while (i < ascending.length && ascending[i]! - moved <= capacity) {
      out[i] = new Date(rate === Infinity || ascending[i]! <= moved ? t : t + ((ascending[i]! - moved) / rate) * 1000);
      i++;
    }
    if (rate === Infinity) break;
    moved += capacity;
    t = next;
  }
  return out;
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
  const sorted = [...pending].sort((a, b) => bySeverity(a.severity, b.severity) || a.approvedAtMs - b.approvedAtMs);
  const separateCritical = lanes.critical.kind !== 'schedule';
  // Cumulative bytes per lane, in priority order; then one walk over the schedule for all.
  let normalBytes = 0;
  let criticalBytes = 0;
  const cumulative = sorted.map((p) => (p.severity === 'critical' && separateCritical ? (criticalBytes += p.bytes) : (normalBytes += p.bytes)));
  const normal = sorted.map((p, i) => (p.severity === 'critical' && separateCritical ? undefined : cumulative[i]!));
  const normalEtas = finishTimes(lanes.schedule, lanes.timezone, now, normal.filter((b): b is number => b !== undefined));
  let k = 0;
  return sorted.map((p, i) => {
    let eta: Date | undefined;
    if (normal[i] === undefined) {
      const crit = lanes.critical as { kind: 'bypass' } | { kind: 'rate'; rateBytesPerSec: number };
      eta = crit.kind === 'bypass' ? now : new Date(now.getTime() + (cumulative[i]! / crit.rateBytesPerSec) * 1000);
    } else {
      eta = normalEtas[k++];
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
