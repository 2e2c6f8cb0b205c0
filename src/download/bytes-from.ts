import { createReadStream } from 'node:fs';
import type { BlobStore } from '../store/blob-store.js';
import type { Download } from '../store/download.js';
import type { BytesFrom } from './want.js';

const CHUNK = 64 * 1024;

/** A download's bytes as a source's check reads them: through the store's reader, so any store implementation serves. */
export function downloadBytes(download: Pick<Download, 'openForRead' | 'size'>): BytesFrom {
  return async function* (start: number) {
    const reader = await download.openForRead();
    try {
      for (let position = start; position < download.size; ) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, download.size - position));
        const { bytesRead } = await reader.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await reader.close();
    }
  };
}

/** A small blob's bytes, held whole in memory. */
export function bufferBytes(data: Buffer): BytesFrom {
  return async function* (start: number) {
    for (let position = start; position < data.length; position += CHUNK) yield data.subarray(position, Math.min(data.length, position + CHUNK));
  };
}

/** A whole file's bytes (a staged blob), read as they are asked for. */
export function fileBytes(path: string): BytesFrom {
  return async function* (start: number) {
    for await (const chunk of createReadStream(path, { start, highWaterMark: CHUNK })) yield chunk as Buffer;
  };
}

/** A stored blob's bytes. */
export function storedBytes(store: Pick<BlobStore, 'read' | 'sizeOf'>, sha256: string): BytesFrom {
  return async function* (start: number) {
    const size = store.sizeOf(sha256) ?? 0;
    if (start >= size) return;
    for await (const chunk of store.read(sha256, { start, end: size - 1 })) yield chunk as Buffer;
  };
}
