import parseRange from 'range-parser';
import { noneMatchHits } from './conditional.js';

export type Plan = { status: 200 | 206; start: number; end: number } | { status: 304 } | { status: 416 };

/** Decides 200 / 206 / 304 / 416 from the request headers (RFC 9110 §13, §14). */
export function planResponse(headers: Record<string, string | string[] | undefined>, etag: string, size: number): Plan {
  const full: Plan = { status: 200, start: 0, end: size - 1 };
  if (noneMatchHits(headers['if-none-match'], etag)) return { status: 304 };
  const range = headers.range;
  if (typeof range !== 'string') return full;
  // §13.1.5: "If the validator given in the If-Range header field matches the current
  // validator ... the server SHOULD process the Range header field"; otherwise it MUST
  // ignore it. Only a strong ETag can match: we send no Last-Modified, so a date never does.
  const ifRange = headers['if-range'];
  if (typeof ifRange === 'string' && ifRange.trim() !== etag) return full;
  // Invalid or of another unit: §14.2 lets a server ignore Range; the client gets the whole blob.
  if (!isValidByteRanges(range)) return full;
  const parsed = parseRange(size, range, { combine: true });
  if (parsed === -2) return full;
  if (parsed === -1) return { status: 416 };
  // Several disjoint ranges would need multipart/byteranges; transfers never ask for them.
  if (parsed.type !== 'bytes' || parsed.length !== 1) return full;
  const r = parsed[0]!;
  return { status: 206, start: r.start, end: r.end };
}

/**
 * §14.1.1: ranges-specifier syntax, and "A byte-range-spec is invalid if the last-pos
 * value is present and less than the first-pos." Invalid is not unsatisfiable: it is ignored.
 */
function isValidByteRanges(header: string): boolean {
  const m = /^bytes=(.+)$/.exec(header.trim());
  if (!m) return false;
  return m[1]!.split(',').every((spec) => {
    const r = /^\s*(?:(\d+)-(\d*)|-(\d+))\s*$/.exec(spec);
    return r !== null && (r[2] === undefined || r[2] === '' || Number(r[2]) >= Number(r[1]));
  });
}
