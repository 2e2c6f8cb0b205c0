import { EventEmitter } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { SluiceError } from '../errors.js';
import type { BlobStore, Download } from '../store/blob-store.js';
import { copyRange, type CopyOptions } from '../store/copy-file-range.js';
import type { DownloadReader } from '../store/download.js';
import type { BatchOp } from '../store/meta-db.js';

/** A site lease on a blob (site/blob-leases.ts), as an arrival holds it. */
export interface HeldLease {
  release(stored: boolean): Promise<void>;
}

export type ArrivalState = 'running' | 'verified' | 'stored' | 'failed';

/** What the downloader hears of an arrival: its first bytes (children may be relayed them), its end. */
export interface ArrivalEvents {
  started(arrival: Arrival): void;
  ended(arrival: Arrival, stored: boolean): void;
}

/**
 * One large blob on its way in, from the moment this node owns its download to the end of its
 * commit: the download (one owner per blob), the site lease when siblings share the WAN, and
 * the relay children read from while it arrives (cut-through: a hub serves its children as
 * bytes land, so three hops cost little more than one). `release` gives everything back,
 * once, whatever happened; `commit` hands the verified bytes to the store and releases when
 * the commit has ended, so the relay stays readable until the blob is in place.
 *
 * A client of a relay may not verify (curl, a browser, a caching proxy), so a relayed
 * response never completes with bytes this node has not verified: a read that reaches the
 * blob's last byte holds that byte back until the whole-file sha256 has matched here, and is
 * cut (the client sees a short body, never a complete wrong one) if it does not. A range
 * that ends before the last byte is relayed as it lands; the blob route marks such responses
 * uncacheable.
 */
export class Arrival extends EventEmitter {
  /** Bytes of the download already written (readable). */
  written = 0;
  state: ArrivalState = 'running';
  private announced = false;

  private constructor(
    readonly download: Download,
    private readonly lease: HeldLease | undefined,
    private readonly events: ArrivalEvents,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Owns blob `sha256`'s download (waiting while an earlier attempt's commit still holds it).
   * If that fails, the lease is given back here: the caller has nothing to release.
   */
  static async open(store: BlobStore, sha256: string, size: number, signal: AbortSignal, lease: HeldLease | undefined, events: ArrivalEvents): Promise<Arrival> {
    try {
      return new Arrival(await store.openDownload(sha256, size, signal), lease, events);
    } catch (err) {
      void lease?.release(false);
      throw err;
    }
  }

  get sha256(): string {
    return this.download.sha256;
  }

  get size(): number {
    return this.download.size;
  }

  /** Bytes up to `written` are held: children may be relayed them. */
  progress(written: number): void {
    if (!this.announced) {
      this.announced = true;
      this.events.started(this);
    }
    this.written = written;
    this.emit('change');
  }

  /** The whole blob hashed to its sha256: relays waiting on the last bytes may complete. */
  verified(): void {
    if (this.state !== 'running') return;
    this.state = 'verified';
    this.written = this.size;
    this.emit('change');
  }

  /** Commits the verified bytes (with `extra` records) and releases everything once the commit ends. */
  async commit(extra: readonly BatchOp[] = []): Promise<void> {
    try {
      await this.download.commit(extra);
      this.release(true);
    } catch (err) {
      this.release(false);
      throw err;
    }
  }

  /** Ends the relay (complete only if `stored`), gives the download and the lease back. Idempotent. */
  release(stored: boolean): void {
    if (this.state === 'stored' || this.state === 'failed') return;
    this.state = stored ? 'stored' : 'failed';
    if (stored) this.written = this.size;
    this.emit('change');
    this.download.release();
    void this.lease?.release(stored);
    this.events.ended(this, stored);
  }

  /** No longer wanted: ends the relay and drops the bytes held, then gives the lease back. */
  async abandon(): Promise<void> {
    if (this.state === 'stored' || this.state === 'failed') return;
    this.state = 'failed';
    this.emit('change');
    void this.lease?.release(false);
    this.events.ended(this, false);
    await this.download.abandon().catch(() => undefined);
  }

  /**
   * How many bytes from `position` (up to `end`) may be relayed now, waiting until at least
   * one may: bytes written so far, all but the last until the whole blob has verified.
   * Rejects with RELAY_FAILED once the arrival failed.
   */
  async available(position: number, end: number): Promise<number> {
    for (;;) {
      if (this.state === 'failed') throw relayFailed(this.sha256);
      const trusted = this.state === 'verified' || this.state === 'stored';
      // The final byte waits for verification: without it no client can see a complete body.
      const readable = trusted ? this.size : Math.min(this.written, this.size - 1);
      const n = Math.min(readable, end + 1) - position;
      if (n > 0) return n;
      await new Promise<void>((resolve) => this.once('change', resolve));
    }
  }

  /**
   * The bytes held, open for reading: valid across the commit, which moves them into place.
   * Rejects with RELAY_FAILED when they are gone (the transfer failed here).
   */
  async open(): Promise<DownloadReader> {
    try {
      return await this.download.openForRead();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw relayFailed(this.sha256);
      throw err;
    }
  }

  /**
   * Writes bytes [start, end] of `reader` (from open()) to `dest` as they become available,
   * with the store's reused buffers; does not end `dest` or close `reader`.
   */
  copyTo(reader: DownloadReader, dest: Writable, start: number, end: number, o: CopyOptions): Promise<void> {
    return copyRange(reader, start, end, dest, { ...o, available: (position) => this.available(position, end) });
  }

  /** Bytes [start, end] as a stream, for responses that are paced (caps, a child's pace). */
  async read(start: number, end: number): Promise<Readable> {
    const reader = await this.open();
    let position = start;
    const arrival = this;
    let stop: ((err: Error) => void) | undefined;
    return new Readable({
      highWaterMark: 1024 * 1024,
      async read(size) {
        try {
          if (position > end) return void this.push(null);
          const n = await Promise.race([arrival.available(position, end), new Promise<never>((_, reject) => (stop = reject))]);
          stop = undefined;
          const buf = Buffer.allocUnsafe(Math.min(n, Math.max(size, 256 * 1024)));
          const { bytesRead } = await reader.read(buf, 0, buf.length, position);
          if (bytesRead === 0) throw new Error('the download is shorter than reported');
          position += bytesRead;
          this.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      destroy(err, done) {
        stop?.(new Error('closed'));
        void reader.close().finally(() => done(err));
      },
    });
  }
}

/** The relay of a blob whose transfer failed here: an expected condition, told as such. */
function relayFailed(sha256: string): SluiceError {
  return new SluiceError('RELAY_FAILED', `blob ${sha256.slice(0, 12)}… was being relayed as it arrived here, and this node's own transfer of it failed (its bytes did not verify, or the transfer was cut); ask again: it is fetched again`);
}
