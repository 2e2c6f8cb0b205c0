/** How a route other than /v1/blobs (the APT repository) labels a blob it answers with. */
export interface BlobLabel {
  readonly contentType: string;
  /** Whether caches may keep it for good (named by its hash) or must ask again (an index file by name). */
  readonly immutable: boolean;
}

/**
 * The headers of every answer with a blob, from the fast path and from the route alike: the
 * sha256 is a strong validator, and a blob named by its hash may be cached for good. The
 * length is the body's (a range's for a 206), set by the caller that knows it.
 */
export function blobHeaders(sha256: string, label?: BlobLabel): Record<string, string> {
  return {
    etag: `"${sha256}"`,
    'accept-ranges': 'bytes',
    'cache-control': label && !label.immutable ? 'no-cache' : IMMUTABLE,
    'content-type': label?.contentType ?? OCTET_STREAM,
  };
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
const OCTET_STREAM = 'application/octet-stream';

/**
 * The same for a whole blob, with its length, as the fast path writes it: one object per
 * request and nothing else (this runs tens of thousands of times a second).
 */
export function wholeBlobHeaders(sha256: string, size: number): Record<string, string> {
  return { etag: `"${sha256}"`, 'accept-ranges': 'bytes', 'cache-control': IMMUTABLE, 'content-type': OCTET_STREAM, 'content-length': String(size) };
}
