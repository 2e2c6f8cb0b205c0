import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/**
 * A blob this node is receiving right now, which it may relay before it is complete
 * (cut-through): a hub serves its children from the partial file as bytes land, so three
 * hops cost little more than one. Relayed bytes are not yet verified here; every receiver
 * checks the whole-file sha256 itself before using them. If this transfer fails, the relay is
 * cut and the receiver resumes later.
 */
export class LiveTransfer extends EventEmitter {
  /** Bytes of the partial file already written (readable). */
  written = 0;
  state: 'running' | 'stored' | 'failed' = 'running';

  constructor(
    readonly sha256: string,
    readonly size: number,
    readonly partialPath: string,
  ) {
    super();
    this.setMaxListeners(0);
  }

  progress(written: number): void {
    this.written = written;
    this.emit('change');
  }

  finish(stored: boolean): void {
    this.state = stored ? 'stored' : 'failed';
    if (stored) this.written = this.size;
    this.emit('change');
  }

  /** Bytes [start, end] as they become available, read through `fh` (which the stream closes). */
  read(fh: FileHandle, start: number, end: number): Readable {
    let position = start;
    const live = this;
    let waiting: (() => void) | undefined;
    return new Readable({
      highWaterMark: 1024 * 1024,
      async read(size) {
        try {
          for (;;) {
            if (position > end) return void this.push(null);
            if (live.state === 'failed') throw new Error('the relayed transfer failed; resume later');
            const available = Math.min(live.written, end + 1) - position;
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
