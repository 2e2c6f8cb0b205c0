import { statSync } from 'node:fs';
import path from 'node:path';
import type * as OpenPgp from 'openpgp';
import { closest, distance } from 'fastest-levenshtein';
import { describeFsError } from '../errors.js';
import { openpgpModule } from '../feeds/load-openpgp.js';
import { loadKeyring } from '../feeds/openpgp-signature.js';
import type { TopologyIssue } from '../topology/rules.js';
import { parseDuration } from '../topology/units.js';

/**
 * What `sluice check` finds in the topology's `feeds:` without the network: each keyring
 * opened and its keys judged as the primary's sync would judge them today, and the mistakes
 * that would otherwise show only at the first sync (a URL that cannot be a repository's base,
 * a suite listed twice, an architecture no archive has) or never (a mirror polled every few
 * seconds, a whole distribution downloaded). Errors make `sluice check` fail; warnings are
 * printed and let it pass.
 */
export interface FeedFindings {
  readonly errors: TopologyIssue[];
  readonly warnings: TopologyIssue[];
  /** Per feed, what its keyring holds, for the summary `sluice check` prints. */
  readonly keyrings: Map<string, KeyringSummary>;
}

export interface KeyringSummary {
  readonly path: string;
  /** The keys a vendor's signature can be verified with today. */
  readonly usable: readonly { fingerprint: string; userId: string; expiresMs: number }[];
  readonly total: number;
}

/** Syncs more often than this poll a vendor's mirror for nothing: an archive changes a few times a day. */
export const FEED_EVERY_MIN_MS = 60_000;
/** Syncs further apart than this leave the vendor's fixes waiting. */
export const FEED_EVERY_WARN_MS = 86_400_000;
/** A vendor's keyring is a few KiB (Debian's, every release's keys: 56 KiB); anything far larger is the wrong file. */
const KEYRING_MAX_BYTES = 4 * 1024 * 1024;
const EXPIRY_WARNING_DAYS = 30;

/**
 * Architecture names of Debian's and Ubuntu's archives (released and ports): a name outside
 * them is most likely a typo, which the first sync would only report as a missing index.
 */
/** The architectures RPM distributions build for (rpm's names), for a typo's warning. */
const KNOWN_RPM_ARCHITECTURES = ['x86_64', 'aarch64', 'ppc64le', 's390x', 'i686', 'armv7hl', 'riscv64', 'x86_64_v2', 'x86_64_v3', 'x86_64_v4'];
const KNOWN_ARCHITECTURES = ['amd64', 'arm64', 'armel', 'armhf', 'i386', 'mips64el', 'mipsel', 'ppc64el', 'riscv64', 's390x', 'loong64', 'alpha', 'hppa', 'hurd-amd64', 'hurd-i386', 'ia64', 'm68k', 'powerpc', 'ppc64', 'sh4', 'sparc64', 'x32'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/**
 * Checks every feed of the raw topology (`raw.feeds`, before or despite schema errors: one
 * `sluice check` lists every problem). Keyring paths are resolved from `topologyDir`, as the
 * node resolves them; `keyrings: false` skips opening them (a node other than the primary
 * never reads them, and its host may not have them).
 */
export async function checkFeeds(raw: unknown, topologyDir: string, o: { keyrings: boolean; nowMs?: number }): Promise<FeedFindings> {
  const out: FeedFindings = { errors: [], warnings: [], keyrings: new Map() };
  const feeds = isObj(raw) && isObj(raw.feeds) ? raw.feeds : {};
  const nowMs = o.nowMs ?? Date.now();
  const opened = new Map<string, Promise<{ summary?: KeyringSummary; errors: string[]; warnings: string[] }>>();
  const followed = new Map<string, string>();
  for (const [name, feed] of Object.entries(feeds)) {
    if (!isObj(feed)) continue;
    const at = (...p: (string | number)[]) => ['feeds', name, ...p];
    const rpm = feed.type === 'rpm';
    const url = isStr(feed.url) ? checkUrl(feed.url, rpm) : undefined;
    if (url) out.errors.push({ path: at('url'), message: url });
    if (rpm && isObj(feed.repos)) {
      for (const [repo, sub] of Object.entries(feed.repos)) if (isStr(sub) && intoRepodata(sub)) out.errors.push({ path: at('repos', repo), message: `the path points into the repository's repodata/: expected the directory that holds repodata/ (e.g. "${sub.replace(/\/?repodata(\/.*)?$/, '') || '.'}")` });
    }
    duplicates(feed.suites, at('suites'), 'suite', out.errors);
    duplicates(feed.components, at('components'), 'component', out.errors);
    duplicates(feed.architectures, at('architectures'), 'architecture', out.errors);
    duplicates(feed.packages, at('packages'), 'package', out.warnings);
    if (Array.isArray(feed.architectures) && feed.type === 'rpm') {
      feed.architectures.forEach((arch, i) => {
        if (!isStr(arch) || KNOWN_RPM_ARCHITECTURES.includes(arch)) return;
        if (arch === 'noarch') return void out.warnings.push({ path: at('architectures', i), message: '"noarch" is not a machine\'s architecture: noarch packages always come along; list the architectures of your machines (x86_64, aarch64, ...)' });
        const guess = closest(arch, KNOWN_RPM_ARCHITECTURES);
        const near = distance(arch, guess) <= 2 ? ` (did you mean "${guess}"?)` : '';
        out.warnings.push({ path: at('architectures', i), message: `"${arch}" is not an architecture RPM distributions build for${near}; no package of the repositories would be followed but noarch ones` });
      });
    } else if (Array.isArray(feed.architectures)) {
      feed.architectures.forEach((arch, i) => {
        if (!isStr(arch) || KNOWN_ARCHITECTURES.includes(arch)) return;
        if (arch === 'all') return void out.warnings.push({ path: at('architectures', i), message: '"all" is not a machine\'s architecture: packages of Architecture: all come with every architecture\'s index; list the architectures of your machines (amd64, arm64, ...)' });
        const guess = closest(arch, KNOWN_ARCHITECTURES);
        const near = distance(arch, guess) <= 2 ? ` (did you mean "${guess}"?)` : '';
        out.warnings.push({ path: at('architectures', i), message: `"${arch}" is not an architecture of Debian's or Ubuntu's archives${near}; the first sync fails if the vendor's Release lists no binary-${arch} index` });
      });
    }
    if (isStr(feed.url) && Array.isArray(feed.suites)) {
      feed.suites.forEach((suite, i) => {
        if (!isStr(suite)) return;
        const key = `${(feed.url as string).replace(/\/+$/, '')}\u0000${suite}`;
        const other = followed.get(key);
        if (other && other !== name) out.warnings.push({ path: at('suites', i), message: `feed "${other}" already follows suite ${suite} of ${feed.url as string}: each version would be listed twice; keep one feed per suite of a repository` });
        else followed.set(key, name);
      });
    }
    const every = isStr(feed.every) ? parseDuration(feed.every) : undefined;
    if (every !== undefined && every < FEED_EVERY_MIN_MS) out.errors.push({ path: at('every'), message: `syncing every ${feed.every as string} polls the vendor's mirror for nothing (an archive changes a few times a day; mirrors block clients that poll this hard); expected 1m or more, e.g. 1h` });
    else if (every !== undefined && every > FEED_EVERY_WARN_MS) out.warnings.push({ path: at('every'), message: `syncing every ${feed.every as string}: a fix the vendor publishes reaches the catalog up to that late ("sluice feeds sync ${name}" syncs at once); security suites are usually followed hourly` });
    if (feed.download === 'all' && feed.packages === undefined) out.warnings.push({ path: at('download'), message: 'download: all without "packages" fetches every version the vendor lists before anyone approves it (all of Debian main is some hundreds of GB); name the packages to follow, or keep download: approved' });
    if (o.keyrings && isStr(feed.keyring) && feed.keyring.length > 0) {
      const file = path.resolve(topologyDir, feed.keyring);
      let job = opened.get(file);
      if (!job) opened.set(file, (job = openKeyring(file, nowMs, rpm)));
      const result = await job;
      for (const message of result.errors) out.errors.push({ path: at('keyring'), message });
      for (const message of result.warnings) out.warnings.push({ path: at('keyring'), message });
      if (result.summary) out.keyrings.set(name, result.summary);
    }
  }
  return out;
}

/** Whether a path reaches into an RPM repository's repodata/ (its metadata), not the repository itself. */
const intoRepodata = (p: string) => /(^|\/)repodata(\/|$)/.test(p);

/**
 * Why `url` cannot be the base of a repository the sync appends to (`dists/SUITE/...` for APT,
 * `repodata/repomd.xml` for RPM, under each of `repos`); undefined when it can.
 */
function checkUrl(text: string, rpm: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined; // the schema says so
  }
  if (url.username || url.password) return 'the URL holds credentials: the topology is on every site and holds no secrets, and "sluice feeds" shows the URL; use a mirror that needs none (or a proxy on the primary\'s side that adds them)';
  if (url.search || url.hash) return `the URL has a ${url.search ? 'query' : 'fragment'}: the sync appends ${rpm ? 'repodata/repomd.xml' : 'dists/SUITE/...'} to the repository's base URL; remove "${url.search || url.hash}"`;
  if (rpm) return intoRepodata(url.pathname) ? `the URL points into the repository's repodata/: expected the directory that holds repodata/ (e.g. "${url.origin}${url.pathname.replace(/\/?repodata(\/.*)?$/, '') || '/'}")` : undefined;
  const segments = url.pathname.split('/');
  const dists = segments.indexOf('dists');
  if (dists >= 0) return `the URL points into the repository's dists/: expected its base, the part before /dists (e.g. "${url.origin}${segments.slice(0, dists).join('/') || '/'}"), and the suite under "suites"`;
  return undefined;
}

function duplicates(list: unknown, at: (string | number)[], what: string, into: TopologyIssue[]): void {
  if (!Array.isArray(list)) return;
  const seen = new Set<unknown>();
  list.forEach((v, i) => {
    if (seen.has(v)) into.push({ path: [...at, i], message: `${what} "${String(v)}" is listed twice; list each once` });
    seen.add(v);
  });
}

/**
 * A keyring as the primary's sync would read it, judged key by key: a key verifies a vendor's
 * signature only while it is not revoked, not expired, can sign, and is strong enough for
 * openpgp's defaults (no DSA, no RSA under 2048 bits): the same test the sync's verification
 * makes, so a keyring that passes here is one the sync can use.
 */
async function openKeyring(file: string, nowMs: number, rpm: boolean): Promise<{ summary?: KeyringSummary; errors: string[]; warnings: string[] }> {
  const fix = rpm
    ? 'give the vendor\'s package-signing keys (Fedora, RHEL and their rebuilds ship them as /etc/pki/rpm-gpg/RPM-GPG-KEY-* files; one such file, or several joined into one, is a keyring) or point "keyring" at the file of its public keys'
    : 'install the vendor\'s keyring (Debian: apt-get install debian-archive-keyring, then /usr/share/keyrings/debian-archive-keyring.gpg) or point "keyring" at the file of its public keys';
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    return { errors: [`cannot read the keyring ${file} (${describeFsError(err)}); ${fix}`], warnings: [] };
  }
  if (!st.isFile()) return { errors: [`the keyring ${file} is not a file; ${fix}`], warnings: [] };
  if (st.size > KEYRING_MAX_BYTES) return { errors: [`the keyring ${file} is ${(st.size / 1048576).toFixed(1)} MiB: a vendor's keyring is a few KiB, this is not one; ${fix}`], warnings: [] };
  let keys: readonly OpenPgp.Key[];
  try {
    keys = await loadKeyring(file);
  } catch (err) {
    return { errors: [(err as Error).message], warnings: [] };
  }
  const warnings: string[] = [];
  // Whoever can write the keyring chooses whose signatures the primary accepts.
  if (st.mode & 0o022) warnings.push(`the keyring ${file} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'}: whoever can write it decides whose packages the primary accepts; chmod go-w it`);
  if (keys.some((k) => k.isPrivate())) warnings.push(`the keyring ${file} holds a private key: a feed needs only the vendor's public keys (gpg --export); keep private keys off the primary`);
  const openpgp = await openpgpModule();
  const now = new Date(nowMs);
  const usable: { fingerprint: string; userId: string; expiresMs: number }[] = [];
  const refused: string[] = [];
  for (const key of keys) {
    const fingerprint = key.getFingerprint().toUpperCase();
    const userId = key.users.find((u) => u.userID)?.userID?.userID ?? '(no user id)';
    try {
      const signing = await key.getSigningKey(undefined, now, undefined, openpgp.config);
      const expires = [await key.getExpirationTime(undefined, openpgp.config), signing === key ? null : await (signing as OpenPgp.Subkey).getExpirationTime(now, openpgp.config)];
      usable.push({ fingerprint, userId, expiresMs: Math.min(...expires.map((d) => (d instanceof Date ? d.getTime() : Infinity))) });
    } catch (err) {
      refused.push(`${fingerprint} ${userId}: ${await whyUnusable(key, now, err as Error)}`);
    }
  }
  const total = keys.length;
  if (usable.length === 0) {
    const shown = refused.slice(0, 3).join('; ') + (refused.length > 3 ? `; and ${refused.length - 3} more` : '');
    return { errors: [`the keyring ${file} holds no key that can verify a signature today (${total} key${total === 1 ? '' : 's'}: ${shown}); the vendor's current keyring is needed (Debian: an up-to-date debian-archive-keyring)`], warnings };
  }
  const lastExpiry = Math.max(...usable.map((k) => k.expiresMs));
  const days = (lastExpiry - nowMs) / 86_400_000;
  if (days < EXPIRY_WARNING_DAYS) warnings.push(`every usable key of ${file} expires within ${Math.max(0, Math.floor(days))} days (the last on ${new Date(lastExpiry).toISOString().slice(0, 10)}); after that every sync fails with FEED_SIGNATURE: update the keyring from the vendor`);
  return { summary: { path: file, usable, total }, errors: [], warnings };
}

async function whyUnusable(key: OpenPgp.Key, now: Date, err: Error): Promise<string> {
  try {
    if (await key.isRevoked(undefined, undefined, now)) return 'revoked';
    const expires = await key.getExpirationTime();
    if (expires instanceof Date && expires.getTime() <= now.getTime()) return `expired on ${expires.toISOString().slice(0, 10)}`;
  } catch {
    // the reason the signing key was refused says more
  }
  return err.message.replace(/\.$/, '');
}
