/**
 * RPM version order (rpm's `rpmvercmp` and `rpmverCmp`, as in rpm 4.18): `[epoch:]version[-release]`,
 * compared epoch first (as a number, missing: 0), then version, then release. Each part is
 * compared segment by segment: runs of ASCII digits (as numbers, leading zeros ignored) or
 * of ASCII letters, anything else only separating them; a numeric segment is newer than an
 * alphabetic one; `~` sorts before everything, even the end (`1.0~rc1` < `1.0`);
 * `^` sorts after the end but before anything else (`1.0` < `1.0^git1` < `1.0.1`). Written out
 * because no maintained package of the registry implements rpm's order; its rules are short
 * and fixed by rpm, and the tests check the real rpm's own answers pair by pair.
 */
export function compareRpmVersions(a: string, b: string): number {
  const pa = parseEvr(a);
  const pb = parseEvr(b);
  // A missing release compares as an empty one (rpm 4.18's answer: `1.0` < `1.0-1`); a
  // package's version always has one.
  return rpmvercmp(pa.epoch, pb.epoch) || rpmvercmp(pa.version, pb.version) || rpmvercmp(pa.release ?? '', pb.release ?? '');
}

/** `[epoch:]version[-release]` as rpm splits it: the epoch is the leading digits before `:`, the release follows the last `-`. */
export function parseEvr(evr: string): { epoch: string; version: string; release: string | undefined } {
  let i = 0;
  while (i < evr.length && isDigit(evr.charCodeAt(i))) i++;
  const hasEpoch = evr[i] === ':';
  const rest = hasEpoch ? evr.slice(i + 1) : evr;
  const epoch = hasEpoch ? evr.slice(0, i) || '0' : '0';
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) } : { epoch, version: rest, release: undefined };
}

/** rpm's `rpmvercmp` of one part (epoch, version or release): -1, 0 or 1. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a.charCodeAt(i)) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b.charCodeAt(j)) && b[j] !== '~' && b[j] !== '^') j++;
    // The tilde sorts before everything else, the end included.
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    // The caret sorts after the end of the other (the base version) but before anything else.
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const numeric = isDigit(a.charCodeAt(i));
    const take = numeric ? isDigit : isAlpha;
    let ei = i;
    let ej = j;
    while (ei < a.length && take(a.charCodeAt(ei))) ei++;
    while (ej < b.length && take(b.charCodeAt(ej))) ej++;
    // Different kinds of segment: numeric is newer than alphabetic.
    if (ej === j) return numeric ? 1 : -1;
    let sa = a.slice(i, ei);
    let sb = b.slice(j, ej);
    if (numeric) {
      sa = sa.replace(/^0+/, '');
      sb = sb.replace(/^0+/, '');
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa < sb ? -1 : 1;
    i = ei;
    j = ej;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
