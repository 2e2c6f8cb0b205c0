import { createHash } from 'node:crypto';
import { request } from 'undici';
import { SluiceError, toSluiceError } from '../errors.js';
import { BATCH_PENDING_HEADER, FrameDecoder, type BatchFrame } from '../protocol/blob-batch.js';
import { NODE_HEADER } from '../protocol/headers.js';
import { blobBatchUrl } from '../protocol/paths.js';
import type { RateBudget } from '../schedule/rate-budget.js';
import { StallWatch } from './stall-watch.js';
import type { BatchFetcher, Route } from './want.js';

/** What a batch asks for: a blob's catalog sha256 and size. */
export interface BatchItem {
  readonly sha256: string;
  readonly size: number;
}

/** Verified bytes of one blob of a batch, or why not (the same errors a GET would give). */
export type BatchOutcome = Buffer | SluiceError;

/**
 * Fetches many small blobs from one peer in one `POST /v1/blobs/batch` (protocol/blob-batch.ts).
 * Each blob's bytes are hashed as its frame arrives and handed over at once, so a batch on a
 * slow link commits blob by blob. A peer without the route (an older version: 404) is
 * remembered (`supports` turns false) so that callers fall back to one GET each.
 */
export class BlobBatcher implements BatchFetcher {
  private readonly unsupported = new Set<string>();

  constructor(
    private readonly o: { readonly selfName: string; readonly budget: RateBudget; readonly stallMs: number; readonly onBytes?: (peer: string, bytes: number) => void },
  ) {}

  /** False once `peer` answered that it has no batch route. */
  supports(peer: string): boolean {
    return !this.unsupported.has(peer);
  }

  /**
   * Asks the node of `route` for `items` (at most BLOB_BATCH_MAX) and calls `onBlob` once per
   * item, with its verified bytes or its error: a failure of the whole request is every
   * unanswered item's. Resolves when every item has had its call; never rejects. `onSending`
   * is called once the byte budget has granted the batch (a closed window holds it until then).
   */
  async fetchBatch(
    route: Pick<Route, 'name' | 'node' | 'dispatcher'>,
    items: readonly BatchItem[],
    signal: AbortSignal,
    onBlob: (sha256: string, outcome: BatchOutcome) => void,
    onSending?: () => void,
  ): Promise<void> {
    const peer = { name: route.name, url: route.node! };
    const what = `a batch of ${items.length} blobs from ${peer.name}`;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const watch = new StallWatch(controller, this.o.stallMs);
    const open = new Map(items.map((item) => [item.sha256, item]));
    try {
      await this.o.budget.take(
        items.reduce((n, item) => n + item.size, 0),
        controller.signal,
      );
      onSending?.();
      watch.touch();
      const res = await request(blobBatchUrl(peer.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [NODE_HEADER]: this.o.selfName, [BATCH_PENDING_HEADER]: '1' },
        body: JSON.stringify({ sha256: items.map((item) => item.sha256) }),
        signal: controller.signal,
        dispatcher: route.dispatcher,
      });
      if (res.statusCode === 404) {
        await res.body.dump().catch(() => undefined);
        this.unsupported.add(peer.name);
        throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${peer.name} does not serve blob batches`);
      }
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: unexpected HTTP ${res.statusCode}`);
      }
      const decoder = new FrameDecoder(Math.max(...items.map((item) => item.size)));
      const take = (frame: BatchFrame) => {
        const item = open.get(frame.sha256);
        if (!item) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: a frame for blob ${frame.sha256.slice(0, 12)}… that was not asked for`);
        open.delete(frame.sha256);
        if (frame.pending) return onBlob(item.sha256, new SluiceError('BLOB_PENDING', `blob ${item.sha256.slice(0, 12)}… from ${peer.name}: the peer is fetching it itself; asked again shortly`));
        if (!frame.bytes) return onBlob(item.sha256, new SluiceError('BLOB_NOT_FOUND', `blob ${item.sha256.slice(0, 12)}… from ${peer.name}: the peer does not hold it`));
        this.o.onBytes?.(peer.name, frame.bytes.length);
        const digest = createHash('sha256').update(frame.bytes).digest('hex');
        if (frame.bytes.length !== item.size || digest !== item.sha256) {
          onBlob(item.sha256, new SluiceError('HASH_MISMATCH', `blob ${item.sha256.slice(0, 12)}… from ${peer.name}: ${frame.bytes.length} bytes hashing to ${digest.slice(0, 12)}…, not the catalog's; discarded`));
        } else onBlob(item.sha256, frame.bytes);
      };
      // 'data' events hand over each chunk as received (see FrameDecoder).
      await new Promise<void>((resolve, reject) => {
        const body = res.body;
        body.on('data', (chunk: Buffer) => {
          watch.touch();
          try {
            for (const frame of decoder.push(chunk)) take(frame);
          } catch (err) {
            reject(err);
            body.destroy();
          }
        });
        body.once('end', () => {
          try {
            decoder.end();
            resolve();
          } catch (err) {
            reject(err);
          }
        });
        body.once('error', reject);
        body.once('close', () => reject(new Error('the response closed before its end')));
      });
      if (open.size) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: the response ended without ${open.size} of the blobs asked for`);
    } catch (err) {
      const e = err instanceof SluiceError ? err : watch.stalled ? new SluiceError('TRANSFER_STALLED', `${what}: no data for ${this.o.stallMs} ms`) : toSluiceError(err, `fetching ${what}`);
      for (const sha of [...open.keys()]) {
        open.delete(sha);
        onBlob(sha, e);
      }
    } finally {
      watch.stop();
      signal.removeEventListener('abort', onAbort);
    }
  }
}
