/**
 * Debian version order (Debian Policy 5.6.12): `[epoch:]upstream[-revision]`, compared epoch
 * first, then upstream, then revision, each by alternating runs of non-digits (letters before
 * other characters, `~` before everything, even the end) and digits (as numbers). Written out
 * because no maintained package of the registry implements dpkg's order; its rules are short
 * and fixed by the policy, and the tests check dpkg's own answers (`dpkg --compare-versions`).
 */
export function compareDebianVersions(a: string, b: string): number {
  const pa = split(a);
  const pb = split(b);
  return pa.epoch - pb.epoch || compareParts(pa.upstream, pb.upstream) || compareParts(pa.revision, pb.revision);
}

function split(v: string): { epoch: number; upstream: string; revision: string } {
  const colon = v.indexOf(':');
  const epoch = colon > 0 && /^\d+$/.test(v.slice(0, colon)) ? Number(v.slice(0, colon)) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf('-');
  return dash > 0 ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) } : { epoch, upstream: rest, revision: '' };
}

/** dpkg's weight of one character in a non-digit run. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function compareParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit runs, character by character.
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const ca = i < a.length && !isDigit(a[i]!) ? a[i] : undefined;
      const cb = j < b.length && !isDigit(b[j]!) ? b[j] : undefined;
      const d = order(ca) - order(cb);
      if (d !== 0) return Math.sign(d);
      if (ca !== undefined) i++;
      if (cb !== undefined) j++;
    }
    // Digit runs, as numbers (leading zeros do not count).
    let na = '';
    let nb = '';
    while (i < a.length && isDigit(a[i]!)) na += a[i++];
    while (j < b.length && isDigit(b[j]!)) nb += b[j++];
    na = na.replace(/^0+/, '');
    nb = nb.replace(/^0+/, '');
    if (na.length !== nb.length) return Math.sign(na.length - nb.length);
    if (na !== nb) return na < nb ? -1 : 1;
  }
  return 0;
}

const isDigit = (c: string) => c >= '0' && c <= '9';
