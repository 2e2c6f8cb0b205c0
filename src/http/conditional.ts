/**
 * If-None-Match (RFC 9110 §13.1.2): true when the header lists `etag` (weak comparison, so a
 * `W/` form matches too) or is `*`. Such a GET is answered 304 Not Modified.
 */
export function noneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = (Array.isArray(header) ? header.join(',') : header).split(',').map((t) => t.trim());
  return tags.some((t) => t === '*' || t === etag || t === `W/${etag}`);
}
