import { createGunzip } from 'node:zlib';
import type { Dispatcher } from 'undici';
import { SluiceError } from '../errors.js';

/**
 * Bytes a catalog page may take per record asked for, decompressed: a record of a whole
 * archive's feed is ~600 bytes in full (a package of many files a few KiB); what parsing the
 * page builds is bounded by this and by the structures it may hold (below), not by 64 MiB of
 * `[],` that a hostile hub gzips into 65 KB.
 */
const BYTES_PER_RECORD = 8 * 1024;
/** Objects and arrays a page may hold per record asked for, on average (a record holds a handful; a publish of many files more, which the page-wide count allows). */
const STRUCTURES_PER_RECORD = 256;
/** Slack for the page's own envelope (head, timestamp). */
const PAGE_ENVELOPE = 64 * 1024;

/** The largest page, decompressed, for `limit` records. */
export const maxCatalogPageBytes = (limit: number) => PAGE_ENVELOPE + BYTES_PER_RECORD * Math.max(1, limit);

/** Headers a client of GET /v1/catalog sends besides its own: it takes gzip. */
export const CATALOG_ACCEPT = { 'accept-encoding': 'gzip' } as const;

/**
 * The text of a catalog page of at most `limit` records, gunzipped when the node sent it
 * compressed. Bounded as it decompresses (maxCatalogPageBytes) and in the objects and arrays
 * parsing it would build: an upstream cannot make a node parse a page into gigabytes.
 */
export async function catalogPageText(res: Dispatcher.ResponseData, what: string, limit: number): Promise<string> {
  const maxBytes = maxCatalogPageBytes(limit);
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
      if (size > maxBytes) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: a catalog page of ${limit} records larger than ${maxBytes} bytes; refused`);
      parts.push(chunk as Buffer);
    }
  } catch (err) {
    // Ending the read on purpose: the body's own "aborted" error has nobody to tell.
    res.body.on('error', () => undefined);
    res.body.destroy();
    if (err instanceof SluiceError) throw err;
    throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: the page could not be decompressed (${(err as Error).message})`);
  }
  const text = Buffer.concat(parts).toString('utf8');
  // Counted before JSON.parse builds them: brackets inside strings count too, which only
  // errs toward refusing a page no real catalog sends.
  let structures = 0;
  const maxStructures = STRUCTURES_PER_RECORD * Math.max(1, limit) + 64;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c === 0x5b || c === 0x7b) && ++structures > maxStructures) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: a catalog page of ${limit} records holding more than ${maxStructures} objects and arrays; refused`);
  }
  return text;
}
