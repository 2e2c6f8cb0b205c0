import { createGunzip } from 'node:zlib';
import type { Dispatcher } from 'undici';
import { SluiceError } from '../errors.js';

/** Largest catalog page a client takes, decompressed: 5,000 records of a few hundred bytes fit many times over. */
export const MAX_CATALOG_PAGE_BYTES = 64 * 1024 * 1024;

/** Headers a client of GET /v1/catalog sends besides its own: it takes gzip. */
export const CATALOG_ACCEPT = { 'accept-encoding': 'gzip' } as const;

/**
 * The text of a catalog page, gunzipped when the node sent it compressed. Bounded as it
 * decompresses: an upstream cannot make a node hold more than MAX_CATALOG_PAGE_BYTES of one
 * page (a gzip bomb ends the read with CATALOG_MALFORMED's words, as UPSTREAM_BAD_RESPONSE).
 */
export async function catalogPageText(res: Dispatcher.ResponseData, what: string): Promise<string> {
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity' && encoding !== 'gzip') {
    await res.body.dump().catch(() => undefined);
    throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: content-encoding "${encoding.slice(0, 40)}" was not asked for`);
  }
  const source = encoding === 'gzip' ? res.body.pipe(createGunzip()) : res.body;
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      size += (chunk as Buffer).length;
      if (size > MAX_CATALOG_PAGE_BYTES) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: a catalog page larger than ${MAX_CATALOG_PAGE_BYTES} bytes; refused`);
      parts.push(chunk as Buffer);
    }
  } catch (err) {
    res.body.destroy();
    if (err instanceof SluiceError) throw err;
    throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: the page could not be decompressed (${(err as Error).message})`);
  }
  return Buffer.concat(parts).toString('utf8');
}
