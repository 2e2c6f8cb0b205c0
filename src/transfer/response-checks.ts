import type { Dispatcher } from 'undici';
import { SluiceError } from '../errors.js';

/**
 * What a blob answer from a peer must satisfy before and while its body is taken, written
 * once for every way a blob arrives (fetch-blob.ts, fetch-small-blob.ts). `what` names the
 * blob and the peer in each message. The hash decides in the end; these catch a wrong answer
 * before its bytes cost a disk write.
 */

/** A status other than the expected ones: 404 means the peer does not hold it (yet). Drains the body. */
export async function refuseStatus(res: Dispatcher.ResponseData, what: string): Promise<never> {
  await res.body.dump().catch(() => undefined);
  if (res.statusCode === 404) throw new SluiceError('BLOB_NOT_FOUND', `${what}: the peer does not hold it`);
  throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: unexpected HTTP ${res.statusCode}`);
}

/** The body must be exactly the bytes the catalog still lacks; the length is checked before any is read. */
export function lengthMismatch(res: Dispatcher.ResponseData, expected: number, what: string): SluiceError | undefined {
  const declared = Number(res.headers['content-length'] ?? expected);
  return declared === expected ? undefined : new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: Content-Length ${declared}, expected ${expected} by the catalog`);
}

/** More bytes than the catalog lists: the body is cut there. */
export const tooLong = (what: string, size: number): SluiceError => new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: the peer sent more than the ${size} bytes the catalog lists`);

/** The connection ended before the last byte. */
export const cutShort = (what: string, got: number, size: number): SluiceError => new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: the connection ended after ${got} of ${size} bytes`);

/** The whole-file hash is not the catalog's: the bytes are discarded. */
export const hashMismatch = (what: string, digest: string): SluiceError => new SluiceError('HASH_MISMATCH', `${what}: the bytes hash to ${digest.slice(0, 12)}…, not to the catalog's sha256; discarded`);
