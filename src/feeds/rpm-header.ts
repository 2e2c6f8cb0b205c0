import { open } from 'node:fs/promises';

/**
 * The parts of an `.rpm` file Sluice reads (rpm's file format, as rpm 4 writes it): a 96-byte
 * lead, the signature header (padded to 8 bytes), the main header, then the compressed
 * payload. A header is `8E AD E8 01`, four reserved bytes, the number of index entries and
 * the size of the data (big-endian), the entries (tag, type, offset, count) and the data. The
 * main header is what a package's v4 signature signs (rpm's "header-only" signature) and what
 * a repository's metadata is made from. Written out because no maintained package of the
 * registry reads rpm headers; the format is fixed and small, and tests read real packages made
 * by rpmbuild and signed by rpmsign.
 */

export const RPM_LEAD_BYTES = 96;
const LEAD_MAGIC = 0xedabeedb;
const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01]);
/** Entries one header may hold (rpm's own bound: 0xffff). */
const MAX_ENTRIES = 0xffff;
/**
 * Bytes of data a header may hold: a signature header is a few KiB (a signature or two and
 * reserved space); a main header a few KiB to a few MiB (the file list of the largest Fedora
 * packages). rpm's own bound is 256 MiB; Sluice reads at most this much before refusing.
 */
const MAX_SIGNATURE_DATA = 1024 * 1024;
export const MAX_HEADER_DATA = 64 * 1024 * 1024;

/** rpm's tag types. */
const TYPE = { NULL: 0, CHAR: 1, INT8: 2, INT16: 3, INT32: 4, INT64: 5, STRING: 6, BIN: 7, STRING_ARRAY: 8, I18NSTRING: 9 } as const;
const WIDTH: Record<number, number> = { [TYPE.CHAR]: 1, [TYPE.INT8]: 1, [TYPE.INT16]: 2, [TYPE.INT32]: 4, [TYPE.INT64]: 8, [TYPE.BIN]: 1 };

/** The tags Sluice reads (rpm's rpmtag.h). */
export const TAG = {
  // Signature header.
  SIG_SIZE: 1000,
  SIG_PAYLOADSIZE: 1007,
  SIG_LONGARCHIVESIZE: 271,
  SIG_DSA: 267,
  SIG_RSA: 268,
  // Main header.
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  SUMMARY: 1004,
  DESCRIPTION: 1005,
  BUILDTIME: 1006,
  BUILDHOST: 1007,
  SIZE: 1009,
  VENDOR: 1011,
  LICENSE: 1014,
  PACKAGER: 1015,
  GROUP: 1016,
  URL: 1020,
  ARCH: 1022,
  OLDFILENAMES: 1027,
  FILESIZES: 1028,
  FILEMODES: 1030,
  FILEFLAGS: 1037,
  SOURCERPM: 1044,
  ARCHIVESIZE: 1046,
  PROVIDENAME: 1047,
  REQUIREFLAGS: 1048,
  REQUIRENAME: 1049,
  REQUIREVERSION: 1050,
  CONFLICTFLAGS: 1053,
  CONFLICTNAME: 1054,
  CONFLICTVERSION: 1055,
  CHANGELOGTIME: 1080,
  CHANGELOGNAME: 1081,
  CHANGELOGTEXT: 1082,
  OBSOLETENAME: 1090,
  SOURCEPACKAGE: 1106,
  PROVIDEFLAGS: 1112,
  PROVIDEVERSION: 1113,
  OBSOLETEFLAGS: 1114,
  OBSOLETEVERSION: 1115,
  DIRINDEXES: 1116,
  BASENAMES: 1117,
  DIRNAMES: 1118,
  LONGFILESIZES: 5008,
  LONGSIZE: 5009,
  RECOMMENDNAME: 5046,
  RECOMMENDVERSION: 5047,
  RECOMMENDFLAGS: 5048,
  SUGGESTNAME: 5049,
  SUGGESTVERSION: 5050,
  SUGGESTFLAGS: 5051,
  SUPPLEMENTNAME: 5052,
  SUPPLEMENTVERSION: 5053,
  SUPPLEMENTFLAGS: 5054,
  ENHANCENAME: 5055,
  ENHANCEVERSION: 5056,
  ENHANCEFLAGS: 5057,
  PAYLOADDIGEST: 5092,
  PAYLOADDIGESTALGO: 5093,
} as const;

/** A file that is not an rpm package Sluice can read, and why. */
export class RpmFormatError extends Error {
  override readonly name = 'RpmFormatError';
}

interface Entry {
  readonly type: number;
  readonly offset: number;
  readonly count: number;
}

/** One header, its entries checked to lie within its data. */
export class RpmHeader {
  private constructor(
    private readonly entries: ReadonlyMap<number, Entry>,
    private readonly data: Buffer,
  ) {}

  /** Parses a header blob (from its magic to the end of its data). */
  static parse(blob: Buffer, what: string): RpmHeader {
    if (blob.length < 16 || !blob.subarray(0, 4).equals(HEADER_MAGIC)) throw new RpmFormatError(`${what}: no rpm header magic`);
    const count = blob.readUInt32BE(8);
    const size = blob.readUInt32BE(12);
    const dataAt = 16 + count * 16;
    if (blob.length !== dataAt + size) throw new RpmFormatError(`${what}: ${blob.length} bytes, its index says ${dataAt + size}`);
    const data = blob.subarray(dataAt);
    const entries = new Map<number, Entry>();
    for (let i = 0; i < count; i++) {
      const at = 16 + i * 16;
      const tag = blob.readInt32BE(at);
      const type = blob.readUInt32BE(at + 4);
      const offset = blob.readInt32BE(at + 8);
      const n = blob.readUInt32BE(at + 12);
      if (type > TYPE.I18NSTRING || offset < 0 || offset > size || n === 0 || n > size + 1) throw new RpmFormatError(`${what}: entry ${i} (tag ${tag}) lies outside the header`);
      const width = WIDTH[type];
      if (width !== undefined) {
        if (width > 1 && offset % width !== 0) throw new RpmFormatError(`${what}: tag ${tag} is misaligned`);
        if (offset + width * n > size) throw new RpmFormatError(`${what}: tag ${tag} runs past the header`);
      }
      if (!entries.has(tag)) entries.set(tag, { type, offset, count: n });
    }
    return new RpmHeader(entries, data);
  }

  has(tag: number): boolean {
    return this.entries.has(tag);
  }

  /** A string tag's value (the first of an array or of an i18n table: the C locale's). */
  string(tag: number): string | undefined {
    return this.strings(tag)?.[0];
  }

  /** A string, string-array or i18n tag's values. */
  strings(tag: number): string[] | undefined {
    const e = this.entries.get(tag);
    if (!e || (e.type !== TYPE.STRING && e.type !== TYPE.STRING_ARRAY && e.type !== TYPE.I18NSTRING)) return undefined;
    const n = e.type === TYPE.STRING ? 1 : e.count;
    const out: string[] = [];
    let at = e.offset;
    for (let i = 0; i < n; i++) {
      const end = this.data.indexOf(0, at);
      if (end < 0) throw new RpmFormatError(`tag ${tag}: a string without its end`);
      out.push(this.data.toString('utf8', at, end));
      at = end + 1;
    }
    return out;
  }

  /** An integer tag's values (8 to 64 bits; 64-bit values beyond 2^53 are refused). */
  numbers(tag: number): number[] | undefined {
    const e = this.entries.get(tag);
    if (!e) return undefined;
    const out: number[] = [];
    for (let i = 0; i < e.count; i++) {
      switch (e.type) {
        case TYPE.CHAR:
        case TYPE.INT8:
          out.push(this.data.readUInt8(e.offset + i));
          break;
        case TYPE.INT16:
          out.push(this.data.readUInt16BE(e.offset + i * 2));
          break;
        case TYPE.INT32:
          out.push(this.data.readUInt32BE(e.offset + i * 4));
          break;
        case TYPE.INT64: {
          const v = this.data.readBigUInt64BE(e.offset + i * 8);
          if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RpmFormatError(`tag ${tag}: a 64-bit value beyond what Sluice reads`);
          out.push(Number(v));
          break;
        }
        default:
          return undefined;
      }
    }
    return out;
  }

  number(tag: number): number | undefined {
    return this.numbers(tag)?.[0];
  }

  /** A binary tag's bytes. */
  bytes(tag: number): Buffer | undefined {
    const e = this.entries.get(tag);
    if (!e || e.type !== TYPE.BIN) return undefined;
    return this.data.subarray(e.offset, e.offset + e.count);
  }
}

/** What Sluice reads of an `.rpm`: both headers, the main header's bytes and where it lies in the file. */
export interface RpmHead {
  readonly signature: RpmHeader;
  readonly header: RpmHeader;
  /** The main header as stored (what a header-only signature signs). */
  readonly headerBytes: Buffer;
  /** Offsets of the main header in the file: the payload starts at `headerEnd`. */
  readonly headerStart: number;
  readonly headerEnd: number;
}

/** Reads the lead and both headers of the rpm file at `path` (never its payload), within bounds. */
export async function readRpmHead(path: string): Promise<RpmHead> {
  const file = await open(path, 'r');
  try {
    return await readHead(async (at, length) => {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await file.read(buf, got, length - got, at + got);
        if (bytesRead === 0) throw new RpmFormatError(`${path}: ends inside its headers (at byte ${at + got})`);
        got += bytesRead;
      }
      return buf;
    }, path);
  } finally {
    await file.close();
  }
}

/**
 * The lead and both headers from a stream of the file's bytes (a stored blob), reading no
 * further than the end of the main header; the caller ends the stream.
 */
export async function readRpmHeadFrom(source: AsyncIterable<Buffer | Uint8Array>, what: string): Promise<RpmHead> {
  const iterator = source[Symbol.asyncIterator]();
  // The bytes read from `base` on and not handed out yet: `rest`, then `spill`. A read is
  // copied once, into a buffer of its own length, as the chunks arrive: a main header may be
  // tens of MiB, read before any signature says whose it is, and is held once, not twice.
  let rest: Buffer = Buffer.alloc(0);
  let spill: Buffer = Buffer.alloc(0);
  let base = 0;
  return readHead(async (at, length) => {
    // Reads go forward (or read again from where the last began): what lies before `at` is dropped.
    const skip = at - base;
    if (skip >= rest.length) {
      spill = spill.subarray(skip - rest.length);
      rest = Buffer.alloc(0);
    } else rest = rest.subarray(skip);
    base = at;
    if (rest.length >= length) return rest.subarray(0, length);
    const out = Buffer.allocUnsafe(length);
    let got = rest.copy(out);
    const take = (chunk: Buffer): Buffer => {
      const n = Math.min(chunk.length, length - got);
      chunk.copy(out, got, 0, n);
      got += n;
      return chunk.subarray(n);
    };
    spill = take(spill);
    while (got < length) {
      const next = await iterator.next();
      if (next.done) throw new RpmFormatError(`${what}: ends inside its headers (at byte ${base + got})`);
      const v = next.value;
      spill = take(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
    rest = out;
    return out;
  }, what);
}

async function readHead(exactly: (at: number, length: number) => Promise<Buffer>, what: string): Promise<RpmHead> {
  const lead = await exactly(0, RPM_LEAD_BYTES);
  if (lead.readUInt32BE(0) !== LEAD_MAGIC) throw new RpmFormatError(`${what}: not an rpm package (no lead magic)`);
  if (lead[4]! < 3) throw new RpmFormatError(`${what}: an rpm package of format ${lead[4]}, older than Sluice reads`);
  const blob = async (at: number, maxData: number, name: string): Promise<Buffer> => {
    const intro = await exactly(at, 16);
    if (!intro.subarray(0, 4).equals(HEADER_MAGIC)) throw new RpmFormatError(`${what}: no ${name} header at byte ${at}`);
    const count = intro.readUInt32BE(8);
    const size = intro.readUInt32BE(12);
    if (count > MAX_ENTRIES || size > maxData) throw new RpmFormatError(`${what}: its ${name} header holds ${count} entries and ${size} bytes, more than Sluice reads (${MAX_ENTRIES} and ${maxData})`);
    // The whole header from its magic again, in one piece (not its intro and the rest joined: a copy).
    return exactly(at, 16 + count * 16 + size);
  };
  const sigBytes = await blob(RPM_LEAD_BYTES, MAX_SIGNATURE_DATA, 'signature');
  const signature = RpmHeader.parse(sigBytes, `${what} (signature header)`);
  // The signature header is padded to a multiple of 8 bytes.
  const headerStart = RPM_LEAD_BYTES + sigBytes.length + ((8 - (sigBytes.length % 8)) % 8);
  const headerBytes = await blob(headerStart, MAX_HEADER_DATA, 'main');
  const header = RpmHeader.parse(headerBytes, `${what} (header)`);
  return { signature, header, headerBytes, headerStart, headerEnd: headerStart + headerBytes.length };
}
