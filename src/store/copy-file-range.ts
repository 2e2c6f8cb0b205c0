import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { BufferPool } from './buffer-pool.js';
import type { DownloadReader } from './download.js';

export interface CopyOptions {
  /** Bytes per read; two reads' worth are in use at a time. */
  readonly chunkBytes: number;
  readonly pool: BufferPool;
  /** Called with each chunk's length as it is handed to `dest` (byte counters). */
  readonly onChunk?: (bytes: number) => void;
}

export interface RangeCopyOptions extends CopyOptions {
  /**
   * How many bytes from `position` may be read now, waiting until at least one may (a file
   * still being written); rejects to abandon the copy. Default: the whole range.
   */
  readonly available?: (position: number) => Promise<number>;
}

/**
 * Writes bytes [start, end] (inclusive) of `file` to `dest` with two buffers taken from
 * `pool`: one is written while the next chunk is read into the other, and a buffer is read
 * into again only after `dest` reported its write done. Nothing is allocated per chunk
 * (buffer-pool.ts says why), and a slow reader holds two chunks, never more. Does not end
 * `dest`. Rejects when the file cannot be read or ends early, and when `dest` closes or
 * fails first; buffers whose write may still be pending are then left to the garbage
 * collector, never handed out again.
 */
export async function copyFileRange(file: string, start: number, end: number, dest: Writable, o: CopyOptions): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await copyRange(fh, start, end, dest, o);
  } finally {
    await fh.close();
  }
}

/** copyFileRange from a file already open (the caller closes it), for files still growing too. */
export async function copyRange(fh: Pick<DownloadReader, 'read'>, start: number, end: number, dest: Writable, o: RangeCopyOptions): Promise<void> {
  if (dest.destroyed) throw Object.assign(new Error('the receiver is closed'), { code: 'ERR_STREAM_DESTROYED' });
  const buffers = [o.pool.take(o.chunkBytes), o.pool.take(o.chunkBytes)] as const;
  const writes: (Promise<void> | undefined)[] = [undefined, undefined];
  // Every wait below ends early when `dest` closes, so a receiver that goes away ends the copy
  // whether it waits on a write or on bytes of a growing file. Only the waits under way are
  // held: racing each one against one promise that lives as long as the copy would attach a
  // reaction to it per chunk, kept until the copy ends (100 downloads of a 64 MiB blob at a
  // time held some 25 MiB of heap that way).
  const waits = new Set<(err: Error) => void>();
  let closedError: Error | undefined;
  const onClose = () => {
    closedError = Object.assign(new Error('the receiver closed before the whole range was written'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    for (const fail of waits) fail(closedError);
    waits.clear();
  };
  dest.once('close', onClose);
  const untilClosed = <T>(begin: (resolve: (value: T) => void, reject: (err: Error) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (closedError) return reject(closedError);
      waits.add(reject);
      begin(
        (value) => {
          waits.delete(reject);
          resolve(value);
        },
        (err) => {
          waits.delete(reject);
          reject(err);
        },
      );
    });
  const write = (chunk: Buffer): Promise<void> => {
    const done = untilClosed<void>((resolve, reject) => dest.write(chunk, (err) => (err ? reject(err) : resolve())));
    // Awaited later; until then a failure must not count as unhandled.
    done.catch(() => undefined);
    return done;
  };
  let clean = false;
  try {
    let position = start;
    for (let i = 0; position <= end; i ^= 1) {
      const buffer = buffers[i]!;
      await writes[i];
      const available = o.available;
      const ready = available ? await untilClosed<number>((resolve, reject) => available(position).then(resolve, reject)) : end - position + 1;
      const { bytesRead } = await fh.read(buffer, 0, Math.min(o.chunkBytes, end - position + 1, ready), position);
      if (bytesRead === 0) throw Object.assign(new Error(`the file ended at byte ${position}, before byte ${end}`), { code: 'ERR_FILE_TRUNCATED' });
      writes[i] = write(buffer.subarray(0, bytesRead));
      o.onChunk?.(bytesRead);
      position += bytesRead;
    }
    await Promise.all(writes);
    clean = true;
  } finally {
    dest.off('close', onClose);
    if (clean) for (const b of buffers) o.pool.give(b);
  }
}
