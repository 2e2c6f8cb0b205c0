import { SluiceError } from '../errors.js';

/** An integer query parameter within [min, max], or `fallback` when absent. */
export function intParam(query: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number): number {
  const raw = query[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new SluiceError('BAD_REQUEST', `query parameter "${name}" must be a whole number from ${min} to ${max}, got "${raw.slice(0, 40)}"`);
  }
  return Number(raw);
}
