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
    'cache-control': label && !label.immutable ? 'no-cache' : 'public, max-age=31536000, immutable',
    'content-type': label?.contentType ?? 'application/octet-stream',
  };
}
