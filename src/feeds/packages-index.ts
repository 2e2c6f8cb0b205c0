import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import xz from 'xz-decompress';
import { SluiceError } from '../errors.js';
import { PACKAGE_NAME_PATTERN, PACKAGE_VERSION_PATTERN, SHA256_PATTERN } from '../catalog/records.js';
import { Deb822Error, Deb822LimitError, field, paragraphs, PACKAGES_LIMITS } from './deb822.js';
import type { IndexEntry } from './release-file.js';

/** One binary package as a `Packages` index lists it. */
export interface PackageEntry {
  readonly name: string;
  readonly version: string;
  /** `amd64`, `arm64`, … or `all`. */
  readonly architecture: string;
  /** Its path in the repository (`pool/main/o/openssl/openssl_3.0.15-1_amd64.deb`). */
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
  readonly section: string | undefined;
  /**
   * The source package it was built from and that source's version (Debian's `Source`
   * field: `openssl`, or `openssl (3.0.15-1~deb12u1)` when the versions differ; absent:
   * the binary's own name and version). A security fix ships as one source version.
   */
  readonly source: { readonly name: string; readonly version: string };
  /** The package's paragraph as the vendor wrote it: what a ring's index repeats for apt. */
  readonly stanza: string;
}

/** `NAME` or `NAME (VERSION)`, as a Packages paragraph's `Source` field holds it. */
const SOURCE_FIELD = /^([a-z0-9][a-z0-9+.-]{0,127})(?: \(([0-9A-Za-z][0-9A-Za-z.+_~:-]{0,127})\))?$/;

/**
 * Largest index Sluice reads, compressed or decompressed: Debian's main archive's
 * `Packages` for one architecture is ~50 MB (~9 MB as xz). An index the signed Release lists
 * as larger is refused before it is fetched.
 */
export const MAX_INDEX_BYTES = 512 * 1024 * 1024;
/**
 * When the Release lists no uncompressed `Packages` (whose signed size then bounds what a
 * compressed one may decompress to), an index may decompress to at most this many times its
 * compressed size (Packages indexes compress 4-8 times with xz, 3-5 with gzip), and never
 * beyond 1 MiB merely for being small: a compression bomb stops there.
 */
const MAX_RATIO = 50;
const RATIO_FLOOR_BYTES = 1024 * 1024;

/** The compressions Sluice reads, most preferred first (smallest to fetch). */
const COMPRESSIONS = [
  { suffix: '.xz', name: 'xz', decode: (s: Readable): Readable => Readable.fromWeb(new xz.XzReadableStream(Readable.toWeb(s) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream) },
  { suffix: '.gz', name: 'gzip', decode: (s: Readable): Readable => s.pipe(createGunzip()) },
  { suffix: '', name: 'plain', decode: (s: Readable): Readable => s },
] as const;

/** The `Packages` index of COMPONENT/binary-ARCH the Release lists, in the form cheapest to fetch. */
export function choosePackagesIndex(indexes: ReadonlyMap<string, IndexEntry>, component: string, arch: string): { entry: IndexEntry; suffix: string; plain: IndexEntry | undefined } | undefined {
  const plain = indexes.get(`${component}/binary-${arch}/Packages`);
  for (const c of COMPRESSIONS) {
    const entry = indexes.get(`${component}/binary-${arch}/Packages${c.suffix}`);
    if (entry) return { entry, suffix: c.suffix, plain: c.suffix ? plain : undefined };
  }
  return undefined;
}

/** An index to read: the (compressed) file fetched, and the uncompressed one when the Release lists it. */
export interface IndexToRead {
  /** The file's signed entry; its bytes were checked against it before they are read here. */
  readonly entry: IndexEntry;
  /** `.xz`, `.gz` or '' (plain). */
  readonly suffix: string;
  /** The signed entry of the uncompressed `Packages`, for a compressed file whose Release lists it. */
  readonly plain: IndexEntry | undefined;
}

/**
 * Reads a `Packages` index whose compressed bytes the caller already checked against the
 * signed size and sha256 (nothing unverified is ever decompressed): decompressed as it is
 * read, counted and bounded (by the signed size of the uncompressed `Packages` when the
 * Release lists one, and then hashed against it too; else by MAX_RATIO and MAX_INDEX_BYTES),
 * and parsed a paragraph at a time within PACKAGES_LIMITS; `onPackage` sees each package as
 * it is parsed. Nothing read may be used before the end: the caller commits only once this
 * resolves, which it does only when the whole index read within its bounds.
 */
export async function readPackagesIndex(source: Readable, index: IndexToRead, where: string, onPackage: (p: PackageEntry) => void | Promise<void>, wanted?: ReadonlySet<string>): Promise<number> {
  const codec = COMPRESSIONS.find((c) => c.suffix === index.suffix)!;
  const limit = decompressedLimit(index);
  const hash = createHash('sha256');
  let size = 0;
  const decoded = codec.decode(source);
  // A decoder's error is re-thrown here, where it is told from a parser's.
  let decodeError: Error | undefined;
  const counted = async function* (): AsyncGenerator<Buffer> {
    try {
      for await (const piece of decoded as AsyncIterable<Uint8Array>) {
        // The xz decoder gives Uint8Arrays, the others Buffers.
        const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        size += chunk.length;
        if (size > limit) {
          if (index.plain) throw new SluiceError('FEED_HASH_MISMATCH', `${where}: decompresses to more than the ${index.plain.size} bytes the signed Release lists for ${index.plain.path}; stopped there; nothing from it was used`);
          throw new SluiceError('FEED_TOO_LARGE', `${where}: decompresses to more than ${limit} bytes (${MAX_RATIO} times its ${index.entry.size}, at most ${MAX_INDEX_BYTES}) and its Release lists no uncompressed size; stopped there; nothing from it was used`);
        }
        hash.update(chunk);
        yield chunk;
      }
    } catch (err) {
      if (!(err instanceof SluiceError)) decodeError = err as Error;
      throw err;
    }
  };
  let count = 0;
  try {
    for await (const p of paragraphs(counted(), PACKAGES_LIMITS)) {
      const name = field(p, 'Package');
      if (name === undefined) continue;
      if (wanted && !wanted.has(name)) continue;
      const raw = { size: field(p, 'Size') ?? '', sha256: field(p, 'SHA256') ?? '' };
      const entry = {
        name,
        version: field(p, 'Version') ?? '',
        architecture: field(p, 'Architecture') ?? '',
        filename: field(p, 'Filename') ?? '',
        size: /^\d{1,15}$/.test(raw.size) ? Number(raw.size) : NaN,
        sha256: raw.sha256.toLowerCase(),
        section: field(p, 'Section'),
        source: { name, version: field(p, 'Version') ?? '' },
        stanza: p.text,
      };
      const sourceField = field(p, 'Source');
      if (sourceField !== undefined) {
        const m = SOURCE_FIELD.exec(sourceField);
        if (!m) throw new SluiceError('FEED_MALFORMED', `${where}: package ${JSON.stringify(name.slice(0, 80))} ${JSON.stringify(entry.version.slice(0, 40))}: Source ${JSON.stringify(sourceField.slice(0, 100))} is not "NAME" or "NAME (VERSION)"`);
        entry.source = { name: m[1]!, version: m[2] ?? entry.version };
      }
      const problem = check(entry);
      if (problem) throw new SluiceError('FEED_MALFORMED', `${where}: package ${JSON.stringify(name.slice(0, 80))} ${JSON.stringify(entry.version.slice(0, 40))}: ${problem}`);
      count++;
      // Awaited: the caller may write what it takes as it goes (a paragraph at a time in memory).
      await onPackage(entry);
    }
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    if (decodeError) throw new SluiceError('FEED_MALFORMED', `${where}: cannot be decompressed as ${codec.name} (${decodeError.message}), though its bytes are the ones the signed Release lists; report it to the repository's owner; nothing from it was used`);
    if (err instanceof Deb822LimitError) throw new SluiceError('FEED_TOO_LARGE', `${where}: ${err.message}, beyond what Sluice reads of one package; nothing from it was used`);
    if (err instanceof Deb822Error) throw new SluiceError('FEED_MALFORMED', `${where}: ${err.message}`);
    throw err;
  } finally {
    decoded.destroy();
  }
  const plain = index.plain;
  if (plain) {
    const digest = hash.digest('hex');
    if (size !== plain.size || digest !== plain.sha256) {
      throw new SluiceError('FEED_HASH_MISMATCH', `${where}: decompresses to ${size} bytes with sha256 ${digest.slice(0, 16)}…, the signed Release lists ${plain.path} as ${plain.size} bytes with ${plain.sha256.slice(0, 16)}…; nothing from it was used`);
    }
  }
  return count;
}

/** How many decompressed bytes an index may have. */
function decompressedLimit(index: IndexToRead): number {
  if (!index.suffix) return index.entry.size;
  if (index.plain) return Math.min(index.plain.size, MAX_INDEX_BYTES);
  return Math.min(MAX_INDEX_BYTES, Math.max(RATIO_FLOOR_BYTES, index.entry.size * MAX_RATIO));
}

/** A path or name fit to be fetched, stored and repeated to apt: no whitespace, no control or format characters. */
const PRINTABLE = /^[^\s\p{C}]+$/u;

/** What Sluice takes from a paragraph, each within what a catalog record carries (records.ts) and on one line. */
function check(e: PackageEntry): string | undefined {
  if (!PACKAGE_NAME_PATTERN.test(e.name)) return 'the name is not a package name';
  if (!PACKAGE_VERSION_PATTERN.test(e.version)) return 'no Version, or one Sluice cannot carry';
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(e.architecture)) return 'no Architecture';
  const f = e.filename;
  if (!f || f.startsWith('/') || f.split('/').some((s) => s === '..' || s === '.' || s === '')) return `Filename ${JSON.stringify(f.slice(0, 100))} is missing or leaves the repository`;
  if (!PRINTABLE.test(f)) return `Filename ${JSON.stringify(f.slice(0, 100))} holds a line break, a space or a control character`;
  if (f.length > 1024 || f.length - f.lastIndexOf('/') - 1 > 255) return `Filename ${JSON.stringify(f.slice(0, 100))}… is longer than 1024 characters, or its name than 255`;
  if (!Number.isSafeInteger(e.size) || e.size < 0) return 'no Size, or not a whole number on one line';
  if (!SHA256_PATTERN.test(e.sha256)) return 'no SHA256';
  if (e.section && !PRINTABLE.test(e.section)) return `Section ${JSON.stringify(e.section.slice(0, 64))} holds a line break, a space or a control character`;
  return undefined;
}
