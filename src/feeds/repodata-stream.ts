import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import xz from 'xz-decompress';
import { SluiceError } from '../errors.js';

/** Bounds on one XML file of a repository's metadata, whoever signed it. */
export interface XmlLimits {
  /** Elements nested deeper than this (primary.xml nests 4 deep). */
  readonly depth: number;
  /** Characters of text between two tags (a package's description is a few KiB). */
  readonly text: number;
}

export const REPODATA_XML_LIMITS: XmlLimits = { depth: 32, text: 1024 * 1024 };

/** An element as a reader sees it once it closed: its name, attributes and own text. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly text: string;
  /** Names of the enclosing elements, outermost first. */
  readonly path: readonly string[];
}

/** Repodata compressions Sluice reads, by the file name's suffix. */
const DECODERS: Record<string, { name: string; decode: (s: Readable) => AsyncIterable<Uint8Array> }> = {
  '.gz': { name: 'gzip', decode: (s) => s.pipe(createGunzip()) },
  '.xz': { name: 'xz', decode: (s) => Readable.fromWeb(new xz.XzReadableStream(Readable.toWeb(s) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream) },
  '.zst': { name: 'zstd', decode: zstdStream },
  '': { name: 'plain', decode: (s) => s },
};

/** The compression of a repodata file by its name: `.gz`, `.xz`, `.zst` or plain; undefined for one Sluice cannot read (`.bz2`, `.zck`). */
export function compressionOf(href: string): string | undefined {
  const m = /\.(gz|xz|zst|bz2|zck|xml)$/.exec(href);
  if (!m || m[1] === 'xml') return '';
  const suffix = `.${m[1]}`;
  return suffix in DECODERS ? suffix : undefined;
}

/** zstd decompressed as it is read (fzstd: Node.js 20's zlib has no zstd). */
async function* zstdStream(source: Readable): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const decoder = new ZstdDecompress((chunk) => void out.push(chunk));
  for await (const chunk of source) {
    decoder.push(chunk as Uint8Array);
    yield* out.splice(0);
  }
  decoder.push(new Uint8Array(0), true);
  yield* out.splice(0);
}

/** What a reader may decompress and how it is checked: the signed open size and sha256 when repomd.xml gives them. */
export interface DecompressBounds {
  readonly suffix: string;
  /** Decompressed bytes allowed at most. */
  readonly limit: number;
  /** repomd.xml's open-size and open-checksum (sha256): the decompressed bytes must match them. */
  readonly open?: { readonly size: number; readonly sha256: string };
}

/**
 * Reads one repodata XML file whose compressed bytes the caller already checked against the
 * size and sha256 repomd.xml gives (nothing unverified is ever decompressed): decompressed as
 * it is read, counted and bounded (by the open size repomd.xml gives, and then hashed against
 * its open checksum too), parsed as it arrives by a maintained streaming XML parser (saxes:
 * no DTD, no entity expansion), within `limits` of nesting and of text between tags;
 * `onElement` sees each element as it closes. Resolves only when the whole file read within
 * its bounds; the caller commits nothing before.
 */
export async function readRepodataXml(source: Readable, bounds: DecompressBounds, where: string, onElement: (e: XmlElement) => void | Promise<void>, limits: XmlLimits = REPODATA_XML_LIMITS): Promise<void> {
  const codec = DECODERS[bounds.suffix]!;
  const hash = createHash('sha256');
  let size = 0;
  let decodeError: Error | undefined;
  const decoded = codec.decode(source);
  const parser = new SaxesParser({ position: true });
  const stack: { tag: SaxesTagPlain; text: string }[] = [];
  const closed: XmlElement[] = [];
  let parseError: Error | undefined;
  let sinceTag = 0;
  parser.on('error', (err) => {
    parseError ??= err;
  });
  parser.on('opentag', (tag) => {
    sinceTag = 0;
    if (stack.length >= limits.depth) parseError ??= new SluiceError('FEED_TOO_LARGE', `${where}: elements nested more than ${limits.depth} deep; nothing from it was used`);
    stack.push({ tag: tag as SaxesTagPlain, text: '' });
  });
  const addText = (t: string) => {
    const top = stack.at(-1);
    if (!top) return;
    if (top.text.length + t.length > limits.text) {
      parseError ??= new SluiceError('FEED_TOO_LARGE', `${where}: more than ${limits.text} characters of text in one <${top.tag.name}>; nothing from it was used`);
      return;
    }
    top.text += t;
  };
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.on('closetag', () => {
    sinceTag = 0;
    const top = stack.pop();
    if (top) closed.push({ name: top.tag.name, attributes: top.tag.attributes as Record<string, string>, text: top.text, path: stack.map((s) => s.tag.name) });
  });
  const text = new TextDecoder('utf-8', { fatal: true });
  try {
    try {
      for await (const piece of decoded) {
        const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        size += chunk.length;
        if (size > bounds.limit) {
          if (bounds.open) throw new SluiceError('FEED_HASH_MISMATCH', `${where}: decompresses to more than the ${bounds.open.size} bytes repomd.xml gives; stopped there; nothing from it was used`);
          throw new SluiceError('FEED_TOO_LARGE', `${where}: decompresses to more than ${bounds.limit} bytes and repomd.xml gives no open size; stopped there; nothing from it was used`);
        }
        hash.update(chunk);
        const s = text.decode(chunk, { stream: true });
        // saxes holds a text run until the next tag: a run longer than any element's bound is refused before it grows.
        sinceTag += s.length;
        if (sinceTag > limits.text + 65_536) throw new SluiceError('FEED_TOO_LARGE', `${where}: more than ${limits.text} characters between two tags; nothing from it was used`);
        parser.write(s);
        if (parseError) throw parseError;
        for (const e of closed.splice(0)) await onElement(e);
      }
    } catch (err) {
      if (!(err instanceof SluiceError) && !(err === parseError)) decodeError = err as Error;
      throw err;
    }
    parser.write(text.decode());
    parser.close();
    if (parseError) throw parseError;
    for (const e of closed.splice(0)) await onElement(e);
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    if (err === parseError) throw new SluiceError('FEED_MALFORMED', `${where}: not well-formed XML (${(err as Error).message.slice(0, 200)}); nothing from it was used`);
    if (decodeError) throw new SluiceError('FEED_MALFORMED', `${where}: cannot be decompressed as ${codec.name} or is not UTF-8 (${decodeError.message.slice(0, 200)}), though its bytes are the ones repomd.xml lists; report it to the repository's owner; nothing from it was used`);
    throw err;
  } finally {
    if (typeof (decoded as Readable).destroy === 'function') (decoded as Readable).destroy();
  }
  if (bounds.open) {
    const digest = hash.digest('hex');
    if (size !== bounds.open.size || digest !== bounds.open.sha256) throw new SluiceError('FEED_HASH_MISMATCH', `${where}: decompresses to ${size} bytes with sha256 ${digest.slice(0, 16)}…, repomd.xml gives ${bounds.open.size} bytes with ${bounds.open.sha256.slice(0, 16)}…; nothing from it was used`);
  }
}
