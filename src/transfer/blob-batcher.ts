import { createHash } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { SluiceError, toSluiceError } from '../errors.js';
import { BLOB_BATCH_MAX, FrameDecoder, type BatchFrame } from '../protocol/blob-batch.js';
import { NODE_HEADER } from '../protocol/headers.js';
import { blobBatchUrl } from '../protocol/paths.js';
import type { RateBudget } from '../schedule/rate-budget.js';
import { StallWatch } from './stall-watch.js';

interface Waiter {
  readonly sha256: string;
  readonly size: number;
  resolve(bytes: Buffer): void;
  reject(err: unknown): void;
}

/** Verified bytes of a blob, or why not (the same errors as a GET would give). */
export type BatchResult = Buffer;

/**
 * Gathers the small blobs that transfers ask one peer for within a moment into one
 * `POST /v1/blobs/batch` (protocol/blob-batch.ts): at most BLOB_BATCH_MAX per request, sent
 * as soon as that many wait or after `lingerMs`. Each blob's bytes are hashed before its
 * transfer gets them. A peer without the route (an older version: 404) is remembered
 * (`supports` turns false) so that callers fall back to one GET each.
 */
export class BlobBatcher {
  private readonly queues = new Map<string, { peer: { name: string; url: string }; waiting: Waiter[]; timer: NodeJS.Timeout | undefined }>();
  private readonly unsupported = new Set<string>();

  constructor(
    private readonly o: { readonly selfName: string; readonly dispatcher: Dispatcher; readonly budget: RateBudget; readonly stallMs: number; readonly lingerMs?: number; readonly onBytes?: (peer: string, bytes: number) => void },
  ) {}

  /** False once `peer` answered that it has no batch route. */
  supports(peer: string): boolean {
    return !this.unsupported.has(peer);
  }

  fetch(peer: { name: string; url: string }, sha256: string, size: number, signal: AbortSignal): Promise<BatchResult> {
    return new Promise<Buffer>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const key = peer.url;
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = { peer, waiting: [], timer: undefined }));
      const waiter: Waiter = { sha256, size, resolve, reject };
      q.waiting.push(waiter);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      if (q.waiting.length >= BLOB_BATCH_MAX) this.flush(key);
      else q.timer ??= setTimeout(() => this.flush(key), this.o.lingerMs ?? 2);
    });
  }

  private flush(key: string): void {
    const q = this.queues.get(key);
    if (!q) return;
    clearTimeout(q.timer);
    q.timer = undefined;
    const batch = q.waiting.splice(0, BLOB_BATCH_MAX);
    if (q.waiting.length) q.timer = setTimeout(() => this.flush(key), 0);
    else this.queues.delete(key);
    if (batch.length) void this.send(q.peer, batch);
  }

  private async send(peer: { name: string; url: string }, batch: Waiter[]): Promise<void> {
    const what = `a batch of ${batch.length} blobs from ${peer.name}`;
    const controller = new AbortController();
    const watch = new StallWatch(controller, this.o.stallMs);
    const open = new Map(batch.map((w) => [w.sha256, w]));
    try {
      await this.o.budget.take(batch.reduce((n, w) => n + w.size, 0));
      watch.touch();
      const res = await request(blobBatchUrl(peer.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [NODE_HEADER]: this.o.selfName },
        body: JSON.stringify({ sha256: batch.map((w) => w.sha256) }),
        signal: controller.signal,
        dispatcher: this.o.dispatcher,
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
      const decoder = new FrameDecoder(Math.max(...batch.map((w) => w.size)));
      const take = (frame: BatchFrame) => {
        const w = open.get(frame.sha256);
        if (!w) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${what}: a frame for blob ${frame.sha256.slice(0, 12)}… that was not asked for`);
        open.delete(frame.sha256);
        if (!frame.bytes) {
          w.reject(new SluiceError('BLOB_NOT_FOUND', `blob ${w.sha256.slice(0, 12)}… from ${peer.name}: the peer does not hold it`));
          return;
        }
        this.o.onBytes?.(peer.name, frame.bytes.length);
        const digest = createHash('sha256').update(frame.bytes).digest('hex');
        if (frame.bytes.length !== w.size || digest !== w.sha256) w.reject(new SluiceError('HASH_MISMATCH', `blob ${w.sha256.slice(0, 12)}… from ${peer.name}: ${frame.bytes.length} bytes hashing to ${digest.slice(0, 12)}…, not the catalog's; discarded`));
        else w.resolve(frame.bytes);
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
      for (const w of open.values()) w.reject(e);
    } finally {
      watch.stop();
    }
  }
}
