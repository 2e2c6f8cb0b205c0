import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import xz from 'xz-decompress';
import { SluiceError } from '../errors.js';
import { PACKAGE_NAME_PATTERN, PACKAGE_VERSION_PATTERN, SHA256_PATTERN } from '../catalog/records.js';
import { Deb822Error, field, paragraphs } from './deb822.js';
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
  /** The package's paragraph as the vendor wrote it: what a ring's index repeats for apt. */
  readonly stanza: string;
}

/** The compressions Sluice reads, most preferred first (smallest to fetch). */
const COMPRESSIONS = [
  { suffix: '.xz', decode: (s: Readable) => Readable.fromWeb(new xz.XzReadableStream(Readable.toWeb(s) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream) },
  { suffix: '.gz', decode: (s: Readable) => s.pipe(createGunzip()) },
  { suffix: '', decode: (s: Readable) => s },
] as const;

/** The `Packages` index of COMPONENT/binary-ARCH the Release lists, in the form cheapest to fetch. */
export function choosePackagesIndex(indexes: ReadonlyMap<string, IndexEntry>, component: string, arch: string): { entry: IndexEntry; suffix: string } | undefined {
  for (const c of COMPRESSIONS) {
    const entry = indexes.get(`${component}/binary-${arch}/Packages${c.suffix}`);
    if (entry) return { entry, suffix: c.suffix };
  }
  return undefined;
}

/**
 * Reads a `Packages` index as it arrives: the compressed bytes are hashed and counted on the
 * way in, decompressed, and parsed a paragraph at a time; `onPackage` sees each package as it
 * is parsed. Nothing read may be used before the end: the caller commits only once this
 * resolves, which it does only when size and sha256 are the ones the signed Release lists.
 */
export async function readPackagesIndex(body: Readable, expected: IndexEntry, suffix: string, where: string, onPackage: (p: PackageEntry) => void, wanted?: ReadonlySet<string>): Promise<number> {
  const hash = createHash('sha256');
  let size = 0;
  let tooBig = false;
  body.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > expected.size) tooBig = true;
    hash.update(chunk);
  });
  const codec = COMPRESSIONS.find((c) => c.suffix === suffix)!;
  const text = codec.decode(body);
  text.setEncoding('utf8');
  let count = 0;
  try {
    for await (const p of paragraphs(text as AsyncIterable<string>)) {
      if (tooBig) break;
      const name = field(p, 'Package');
      if (name === undefined) continue;
      if (wanted && !wanted.has(name)) continue;
      const entry = {
        name,
        version: field(p, 'Version') ?? '',
        architecture: field(p, 'Architecture') ?? '',
        filename: field(p, 'Filename') ?? '',
        size: Number(field(p, 'Size') ?? NaN),
        sha256: (field(p, 'SHA256') ?? '').toLowerCase(),
        section: field(p, 'Section'),
        stanza: p.text,
      };
      const problem = check(entry);
      if (problem) throw new SluiceError('FEED_MALFORMED', `${where}: package ${name.slice(0, 80)} ${entry.version.slice(0, 40)}: ${problem}`);
      count++;
      onPackage(entry);
    }
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    if (err instanceof Deb822Error) throw new SluiceError('FEED_MALFORMED', `${where}: ${err.message}`);
    // A decoder fails on altered bytes before the hash is known: say what the cause is.
    throw new SluiceError('FEED_HASH_MISMATCH', `${where}: cannot be decompressed (${(err as Error).message}); altered or truncated`);
  }
  const digest = hash.digest('hex');
  if (tooBig || size !== expected.size || digest !== expected.sha256) {
    throw new SluiceError('FEED_HASH_MISMATCH', `${where}: ${size} bytes with sha256 ${digest.slice(0, 16)}…, the signed Release lists ${expected.size} bytes with ${expected.sha256.slice(0, 16)}…; nothing from it was used`);
  }
  return count;
}

function check(e: PackageEntry): string | undefined {
  if (!PACKAGE_NAME_PATTERN.test(e.name)) return 'the name is not a package name';
  if (!PACKAGE_VERSION_PATTERN.test(e.version)) return 'no Version, or one Sluice cannot carry';
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(e.architecture)) return 'no Architecture';
  if (!e.filename || e.filename.startsWith('/') || e.filename.split('/').some((s) => s === '..' || s === '.' || s === '')) return `Filename "${e.filename.slice(0, 100)}" is missing or leaves the repository`;
  if (!Number.isSafeInteger(e.size) || e.size < 0) return 'no Size';
  if (!SHA256_PATTERN.test(e.sha256)) return 'no SHA256';
  return undefined;
}
