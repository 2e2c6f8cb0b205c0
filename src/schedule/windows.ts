import type { ScheduleWindow } from '../topology/types.js';

/** Local weekday (0 = Sunday) and minutes since local midnight of an instant in a timezone. */
export interface LocalTime {
  readonly weekday: number;
  readonly minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Wall-clock time in `timezone` (IANA); DST is the platform's tz database's business. */
export function localTime(at: Date, timezone: string): LocalTime {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timezone, f);
  }
  let weekday = 0;
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(at)) {
    if (p.type === 'weekday') weekday = WEEKDAY[p.value] ?? 0;
    else if (p.type === 'hour') hour = Number(p.value) % 24;
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { weekday, minutes: hour * 60 + minute };
}

/**
 * Whether `w` covers a local time. A window whose `from` is later than its `to` crosses
 * midnight; its `days` name the day it starts on, so Friday 22:00-06:00 also covers
 * Saturday 03:00 and not Friday 03:00.
 */
export function windowCovers(w: ScheduleWindow, t: LocalTime): boolean {
  const dayOk = (d: number) => w.days === undefined || w.days.has(d);
  if (w.fromMin < w.toMin) return dayOk(t.weekday) && t.minutes >= w.fromMin && t.minutes < w.toMin;
  if (t.minutes >= w.fromMin) return dayOk(t.weekday);
  if (t.minutes < w.toMin) return dayOk((t.weekday + 6) % 7);
  return false;
}

/** The first window that covers `at`, with its index; none when no window matches (no transfer). */
export function activeWindow(schedule: readonly ScheduleWindow[], timezone: string, at: Date): { window: ScheduleWindow; index: number } | undefined {
  const t = localTime(at, timezone);
  const index = schedule.findIndex((w) => windowCovers(w, t));
  return index < 0 ? undefined : { window: schedule[index]!, index };
}

/** Bytes per second allowed at `at`: the active window's rate, or 0 when none matches. */
export function rateAt(schedule: readonly ScheduleWindow[], timezone: string, at: Date): number {
  return activeWindow(schedule, timezone, at)?.window.rateBytesPerSec ?? 0;
}

/**
 * The next instant after `from` at which the active window changes, up to `horizonMs`.
 * Windows turn on whole local minutes: the search steps 5 minutes at a time and refines to
 * the minute (a window shorter than 5 minutes may be stepped over).
 */
export function nextChange(schedule: readonly ScheduleWindow[], timezone: string, from: Date, horizonMs = 8 * 86_400_000): Date | undefined {
  const indexAt = (t: number) => activeWindow(schedule, timezone, new Date(t))?.index ?? -1;
  const current = indexAt(from.getTime());
  const end = from.getTime() + horizonMs;
  let prev = Math.floor(from.getTime() / 60_000) * 60_000;
  for (let t = prev + 5 * 60_000; t <= end + 5 * 60_000; t += 5 * 60_000) {
    if (indexAt(t) !== current) {
      for (let m = prev + 60_000; m <= t; m += 60_000) if (indexAt(m) !== current) return m <= end ? new Date(m) : undefined;
    }
    prev = t;
  }
  return undefined;
}
