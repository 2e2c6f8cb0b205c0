import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { PartialFile } from '../store/partial-file.js';

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

  constructor(readonly partial: PartialFile) {
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

  /** Bytes [start, end] as they become available and, for the last byte, once verified. */
  async read(start: number, end: number): Promise<Readable> {
    const fh = await this.partial.openForRead();
    let position = start;
    const live = this;
    let waiting: (() => void) | undefined;
    return new Readable({
      highWaterMark: 1024 * 1024,
      async read(size) {
        try {
          for (;;) {
            if (position > end) return void this.push(null);
            if (live.state === 'failed') throw new Error('the relayed transfer failed verification or was cut; resume later');
            const trusted = live.state === 'verified' || live.state === 'stored';
            // The final byte waits for verification: without it no client can see a complete body.
            const readable = trusted ? live.size : Math.min(live.written, live.size - 1);
            const available = Math.min(readable, end + 1) - position;
            if (available > 0) {
              const buf = Buffer.allocUnsafe(Math.min(available, Math.max(size, 256 * 1024)));
              const { bytesRead } = await fh.read(buf, 0, buf.length, position);
              if (bytesRead === 0) throw new Error('the partial file is shorter than reported');
              position += bytesRead;
              return void this.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
            }
            await new Promise<void>((resolve) => {
              waiting = resolve;
              live.once('change', resolve);
            });
            waiting = undefined;
          }
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      destroy(err, done) {
        if (waiting) live.off('change', waiting);
        void fh.close().finally(() => done(err));
      },
    });
  }
}
