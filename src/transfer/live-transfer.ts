import { EventEmitter } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { copyRange, type CopyOptions } from '../store/copy-file-range.js';
import type { Download, DownloadReader } from '../store/download.js';

export type LiveState = 'running' | 'verified' | 'stored' | 'failed';

/**
 * A blob this node is receiving right now, which it may relay before it is complete
 * (cut-through): a hub serves its children from the partial file as bytes land, so three
 * hops cost little more than one.
 *
 * A client of a relay may not verify (curl, a browser, a caching proxy), so a relayed
 * response never completes with bytes this node has not verified: a read that reaches the
 * blob's last byte holds that byte back until the whole-file sha256 has matched here, and
 * is cut (the client sees a short body, never a complete wrong one) if it does not.
 * A range that ends before the last byte is relayed as it lands; the blob route marks such
 * responses uncacheable.
 */
export class LiveTransfer extends EventEmitter {
  /** Bytes of the partial file already written (readable). */
  written = 0;
  state: LiveState = 'running';

  constructor(readonly partial: Download) {
    super();
    this.setMaxListeners(0);
  }

  get sha256(): string {
    return this.partial.sha256;
  }

  get size(): number {
    return this.partial.size;
  }

  progress(written: number): void {
    this.written = written;
    this.emit('change');
  }

  /** The whole file hashed to its sha256: held-back final bytes may go out. */
  verified(): void {
    if (this.state !== 'running') return;
    this.state = 'verified';
    this.written = this.size;
    this.emit('change');
  }

  finish(stored: boolean): void {
    this.state = stored ? 'stored' : 'failed';
    if (stored) this.written = this.size;
    this.emit('change');
  }

  /**
   * How many bytes from `position` (up to `end`) may be sent now, waiting until at least one
   * may: bytes written so far, all but the last until the whole file has verified. Rejects
   * once the transfer failed.
   */
  async available(position: number, end: number): Promise<number> {
    for (;;) {
      if (this.state === 'failed') throw new Error('the relayed transfer failed verification or was cut; resume later');
      const trusted = this.state === 'verified' || this.state === 'stored';
      // The final byte waits for verification: without it no client can see a complete body.
      const readable = trusted ? this.size : Math.min(this.written, this.size - 1);
      const n = Math.min(readable, end + 1) - position;
      if (n > 0) return n;
      await new Promise<void>((resolve) => this.once('change', resolve));
    }
  }

  /** The bytes held, open for reading. */
  open(): Promise<DownloadReader> {
    return this.partial.openForRead();
  }

  /**
   * Writes bytes [start, end] of `fh` (from open()) to `dest` as they become available, with
   * the store's reused buffers (`o`); does not end `dest` or close `fh`.
   */
  copyTo(fh: DownloadReader, dest: Writable, start: number, end: number, o: CopyOptions): Promise<void> {
    return copyRange(fh, start, end, dest, { ...o, available: (position) => this.available(position, end) });
  }

  /** Bytes [start, end] as a stream, for responses that are paced (caps, a child's pace). */
  async read(start: number, end: number): Promise<Readable> {
    const fh = await this.open();
    let position = start;
    const live = this;
    let stop: ((err: Error) => void) | undefined;
    return new Readable({
      highWaterMark: 1024 * 1024,
      async read(size) {
        try {
          if (position > end) return void this.push(null);
          const n = await Promise.race([live.available(position, end), new Promise<never>((_, reject) => (stop = reject))]);
          stop = undefined;
          const buf = Buffer.allocUnsafe(Math.min(n, Math.max(size, 256 * 1024)));
          const { bytesRead } = await fh.read(buf, 0, buf.length, position);
          if (bytesRead === 0) throw new Error('the partial file is shorter than reported');
          position += bytesRead;
          this.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      destroy(err, done) {
        stop?.(new Error('closed'));
        void fh.close().finally(() => done(err));
      },
    });
  }
}
