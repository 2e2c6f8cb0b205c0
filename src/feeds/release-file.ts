import { SluiceError } from '../errors.js';
import { field, parseAll, Deb822Error, Deb822LimitError, type Deb822Limits } from './deb822.js';

/**
 * Largest `InRelease` or `Release` a sync reads, in bytes and lines. Debian's and Ubuntu's are
 * 100-300 KiB on a few thousand lines. Both are checked on the raw bytes before the signature
 * is: the OpenPGP library spends time and memory per line and per byte of a clear-signed text
 * (a 16 MB InRelease of short lines, signed by anyone, held the event loop for 20 s and took
 * over 1 GB), so an unsigned file a mirror serves must be small before it reaches it.
 */
export const MAX_RELEASE_BYTES = 4 * 1024 * 1024;
export const MAX_RELEASE_LINES = 100_000;
/** A Release is one paragraph, bounded by the file's own bounds. */
const RELEASE_LIMITS: Deb822Limits = { lineBytes: 1024 * 1024, fields: 512, paragraphLines: MAX_RELEASE_LINES, paragraphBytes: MAX_RELEASE_BYTES };

/** One index a `Release` file vouches for: its path under `dists/SUITE/`, size and sha256. */
export interface IndexEntry {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** What Sluice takes from a verified `Release`. */
export interface ReleaseFile {
  readonly suite: string | undefined;
  readonly codename: string | undefined;
  /** When the archive signed it (ms since epoch): never older than the last one accepted. */
  readonly dateMs: number;
  /** After this it must not be used (ms since epoch); undefined when the archive sets none. */
  readonly validUntilMs: number | undefined;
  /** Indexes may be fetched by their hash (`by-hash/SHA256/HEX`), never mid-update. */
  readonly acquireByHash: boolean;
  readonly indexes: ReadonlyMap<string, IndexEntry>;
}

/**
 * Parses the signed text of a `Release` (Debian's repository format): one paragraph; dates
 * in RFC 2822 form ("Sat, 30 Nov 2026 10:12:33 UTC"); a multi-line `SHA256` field of
 * "HEX SIZE PATH" lines. A Release without a Date or a SHA256 list cannot be checked and is
 * refused (MD5 and SHA1 lists alone are not trusted).
 */
export async function parseRelease(text: string, where: string): Promise<ReleaseFile> {
  let paragraphs;
  try {
    paragraphs = await parseAll(text, RELEASE_LIMITS);
  } catch (err) {
    if (err instanceof Deb822LimitError) throw new SluiceError('FEED_TOO_LARGE', `${where}: ${err.message}`);
    throw new SluiceError('FEED_MALFORMED', `${where}: ${err instanceof Deb822Error ? err.message : (err as Error).message}`);
  }
  const p = paragraphs[0];
  if (!p) throw new SluiceError('FEED_MALFORMED', `${where}: empty Release`);
  const date = parseDate(field(p, 'Date'), 'Date', where);
  if (date === undefined) throw new SluiceError('FEED_MALFORMED', `${where}: no Date field; Sluice cannot tell an old Release from a new one`);
  const validUntil = parseDate(field(p, 'Valid-Until'), 'Valid-Until', where);
  const list = field(p, 'SHA256');
  if (!list) throw new SluiceError('FEED_MALFORMED', `${where}: no SHA256 list; only SHA256 checksums are trusted`);
  const indexes = new Map<string, IndexEntry>();
  for (const line of list.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const m = /^([0-9a-f]{64})\s+(\d{1,15})\s+(\S+)$/i.exec(t);
    if (!m) throw new SluiceError('FEED_MALFORMED', `${where}: SHA256 line "${t.slice(0, 100)}" is not "HEX SIZE PATH"`);
    const path = m[3]!;
    if (!/^[\x21-\x7e]+$/.test(path) || path.split('/').some((s) => s === '..' || s === '.' || s === '') || path.startsWith('/')) throw new SluiceError('FEED_MALFORMED', `${where}: index path "${path.slice(0, 100)}" leaves the suite or is not printable ASCII`);
    indexes.set(path, { path, size: Number(m[2]), sha256: m[1]!.toLowerCase() });
  }
  return { suite: field(p, 'Suite'), codename: field(p, 'Codename'), dateMs: date, validUntilMs: validUntil, acquireByHash: field(p, 'Acquire-By-Hash')?.toLowerCase() === 'yes', indexes };
}

function parseDate(text: string | undefined, name: string, where: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text.replace(/\bUTC$/, '+0000'));
  if (Number.isNaN(ms)) throw new SluiceError('FEED_MALFORMED', `${where}: ${name} "${text.slice(0, 60)}" is not a date`);
  return ms;
}
