import { escapeUnprintable } from '../domain/printable.js';
import type { Dispatcher } from 'undici';
import { SluiceError, type ErrorCode } from '../errors.js';
import { blobUrl } from '../protocol/paths.js';
import type { Route } from './want.js';

/**
 * What a blob answer from a peer must satisfy before and while its body is taken, written
 * once for every way a blob arrives (fetch-blob.ts, fetch-small-blob.ts). `what` names the
 * blob and the peer in each message. The hash decides in the end; these catch a wrong answer
 * before its bytes cost a disk write.
 */

/** The URL an attempt asks: the plain URL of a vendor's file, or a node's blob route. */
export function askedUrl(route: Pick<Route, 'node' | 'url'>, sha256: string): string {
  return route.url ?? blobUrl(route.node!, sha256);
}

/** Codes a node answers with that say the blob is on its way there, not that the node failed. */
const RELAYED_CODES: ReadonlySet<ErrorCode> = new Set(['BLOB_PENDING', 'RELAY_FAILED']);

/**
 * A status other than the expected ones: 404 means the peer does not hold it (yet), or, when
 * a node says so, that it is fetching it itself (BLOB_PENDING); a node whose own transfer of
 * it failed while relaying says RELAY_FAILED. Reads at most 4 KiB of the body for that code.
 */
export async function refuseStatus(res: Dispatcher.ResponseData, what: string): Promise<never> {
  const { code, message } = await errorOf(res);
  if (code && RELAYED_CODES.has(code as ErrorCode)) {
    throw new SluiceError(code as ErrorCode, code === 'BLOB_PENDING' ? `${what}: the peer is fetching it itself; asked again shortly` : `${what}: the peer's own transfer of it failed while relaying it; asked again`);
  }
  // A node that wants the blob but whose own transfer fails says why (a vendor file refused at
  // head office): kept, bounded and escaped, so this node's status points at the cause.
  const why = code === 'BLOB_NOT_FOUND' && message?.includes('its own transfer of it fails') ? ` (${escapeUnprintable(message.slice(message.indexOf('its own transfer'), message.indexOf('its own transfer') + 400))})` : '';
  if (res.statusCode === 404) throw new SluiceError('BLOB_NOT_FOUND', `${what}: the peer does not hold it${why}`);
  throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: unexpected HTTP ${res.statusCode}`);
}

/** The `error.code` and `error.message` of a JSON error body of at most 4 KiB; nothing for anything else. The body is consumed. */
async function errorOf(res: Dispatcher.ResponseData): Promise<{ code?: string; message?: string }> {
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('application/json') || Number(res.headers['content-length'] ?? 0) > 4096) {
    await res.body.dump().catch(() => undefined);
    return {};
  }
  try {
    const parsed = JSON.parse(await res.body.text()) as { error?: { code?: unknown; message?: unknown } };
    return { ...(typeof parsed.error?.code === 'string' ? { code: parsed.error.code } : {}), ...(typeof parsed.error?.message === 'string' ? { message: parsed.error.message } : {}) };
  } catch {
    return {};
  }
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
