/**
 * Parsers for the value syntaxes of topology.yaml: rates, durations and clock times.
 * Each returns `undefined` on bad input so the validator can report every error at once.
 */

/** Bytes per second; `Infinity` for `unlimited`, `0` for `paused`. */
export type RateBytesPerSec = number;

const RATE_UNITS: Record<string, number> = {
  'B/s': 1,
  'KB/s': 1e3,
  'MB/s': 1e6,
  'GB/s': 1e9,
  'KiB/s': 1024,
  'MiB/s': 1024 ** 2,
  'GiB/s': 1024 ** 3,
  'Kbit/s': 1e3 / 8,
  'Mbit/s': 1e6 / 8,
  'Gbit/s': 1e9 / 8,
};

export const RATE_SYNTAX = `a number and a unit (${Object.keys(RATE_UNITS).join(', ')}), 'unlimited' or 'paused', e.g. "4Mbit/s"`;

export function parseRate(text: string): RateBytesPerSec | undefined {
  const t = text.trim();
  if (t === 'unlimited') return Infinity;
  if (t === 'paused') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+\/s)$/.exec(t);
  if (!m) return undefined;
  const unit = RATE_UNITS[m[2]!];
  if (unit === undefined) return undefined;
  const value = Number(m[1]) * unit;
  return value > 0 ? value : undefined;
}

export function formatRate(rate: RateBytesPerSec): string {
  if (rate === Infinity) return 'unlimited';
  if (rate === 0) return 'paused';
  return `${formatBytes(rate)}/s`;
}

/** How a rate was written: in bits (Kbit/s…), decimal bytes (KB/s…) or binary bytes (KiB/s…). */
export type RateFamily = 'bits' | 'decimal' | 'binary';

export function rateFamilyOf(text: string | undefined): RateFamily {
  if (!text) return 'binary';
  if (/bit\/s$/.test(text.trim())) return 'bits';
  if (/^[\d.]+\s*[KMG]?B\/s$/.test(text.trim())) return 'decimal';
  return 'binary';
}

/** A rate in the family the operator wrote the schedule in: 4Mbit/s stays "4 Mbit/s", not "488.3 KiB/s". */
export function formatRateIn(bytesPerSec: number, family: RateFamily): string {
  if (bytesPerSec === Infinity) return 'unlimited';
  if (bytesPerSec === 0) return 'paused';
  if (family === 'binary') return `${formatBytes(bytesPerSec)}/s`;
  const [value, units] = family === 'bits' ? [bytesPerSec * 8, ['bit/s', 'Kbit/s', 'Mbit/s', 'Gbit/s']] : [bytesPerSec, ['B/s', 'KB/s', 'MB/s', 'GB/s']];
  let v = value;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v >= 100 || i === 0 ? 0 : 1;
  return `${Number(v.toFixed(digits))} ${units[i]}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const DURATION_SYNTAX = 'a whole number and a unit (ms, s, m, h, d), e.g. "30s" or "24h"';

export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

export const CLOCK_SYNTAX = '"HH:MM" from 00:00 to 24:00';

/** Minutes since local midnight; "24:00" is allowed as the end of a day. */
export function parseClock(text: string): number | undefined {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(text);
  if (!m) return undefined;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  return minutes <= 24 * 60 ? minutes : undefined;
}

export function isTimezone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
