import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { SluiceError, toSluiceError } from '../errors.js';
import { NODE_HEADER } from '../protocol/headers.js';
import type { RateBudget } from '../schedule/rate-budget.js';
import { StallWatch } from './stall-watch.js';
import { askedUrl, cutShort, hashMismatch, lengthMismatch, refuseStatus, tooLong } from './response-checks.js';
import type { Route } from './want.js';

export interface FetchSmallOptions {
  readonly sha256: string;
  readonly size: number;
  /** A node's blob route, or a plain URL (a vendor's file). */
  readonly route: Pick<Route, 'name' | 'node' | 'url'>;
  readonly selfName: string;
  readonly budget: RateBudget;
  readonly signal: AbortSignal;
  readonly stallMs: number;
  readonly dispatcher?: Dispatcher | undefined;
  readonly onBytes?: (bytes: number) => void;
}

/**
 * A small blob (see PACKED_BLOB_MAX) fetched whole into memory and verified: no partial
 * file, no resume (a retry costs at most a few KiB), and the caller commits it into a pack
 * file. Memory stays bounded: at most `size` bytes are accepted, and the lane limits how
 * many run at once. Throws the same SluiceErrors as fetchBlob.
 */
export async function fetchSmallBlob(o: FetchSmallOptions): Promise<Buffer> {
  const what = `blob ${o.sha256.slice(0, 12)}… from ${o.route.name}`;
  o.signal.throwIfAborted();
  // Budgeted up front: the whole body is a handful of slices at any real rate.
  await o.budget.take(o.size, o.signal);
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal.reason);
  o.signal.addEventListener('abort', onAbort, { once: true });
  const watch = new StallWatch(controller, o.stallMs);
  watch.touch();
  try {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(askedUrl(o.route, o.sha256), { headers: o.route.url !== undefined ? {} : { [NODE_HEADER]: o.selfName }, signal: controller.signal, dispatcher: o.dispatcher });
    } catch (err) {
      if (watch.stalled) throw new SluiceError('TRANSFER_STALLED', `${what}: no answer for ${o.stallMs} ms`);
      throw toSluiceError(err, `fetching ${what}`);
    }
    if (res.statusCode !== 200) await refuseStatus(res, what);
    const wrongLength = lengthMismatch(res, o.size, what);
    if (wrongLength) {
      await res.body.dump().catch(() => undefined);
      throw wrongLength;
    }
    const body = Buffer.allocUnsafe(o.size);
    let got = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (got + chunk.length > o.size) throw tooLong(what, o.size);
        watch.touch();
        chunk.copy(body, got);
        got += chunk.length;
        o.onBytes?.(chunk.length);
      }
    } catch (err) {
      res.body.destroy();
      if (err instanceof SluiceError) throw err;
      if (watch.stalled) throw new SluiceError('TRANSFER_STALLED', `${what}: no data for ${o.stallMs} ms`);
      throw toSluiceError(err, `fetching ${what}`);
    }
    if (got !== o.size) throw cutShort(what, got, o.size);
    const digest = createHash('sha256').update(body).digest('hex');
    if (digest !== o.sha256) throw hashMismatch(what, digest);
    return body;
  } finally {
    watch.stop();
    o.signal.removeEventListener('abort', onAbort);
  }
}
