import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fsyncDir } from './hashed-write.js';

/** A new pack is started once the current one holds this much. */
const PACK_TARGET_BYTES = 64 * 1024 * 1024;
const PACK_FILE = /^pack-(\d{8})\.dat$/;

/** Where a packed blob's bytes are. */
export interface PackLocation {
  readonly pack: number;
  readonly offset: number;
}

/**
 * Append-only pack files holding many small blobs each (`packs/pack-NNNNNNNN.dat`). One
 * file per small blob cost an open, an fsync and a rename each; here a whole commit round
 * is one write and one fsync. Bytes are appended and synced before LevelDB records where
 * they are, so a crash leaves at most unrecorded bytes at the end of the current pack,
 * never a recorded blob without its bytes. A pack whose blobs are all gone is deleted;
 * space of single removed blobs is kept until then.
 */
export class PackFiles {
  readonly dir: string;
  private current: { id: number; fh: FileHandle; size: number } | undefined;
  private readonly live = new Map<number, number>();
  private readonly readers = new Map<number, Promise<FileHandle>>();
  private nextId = 1;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'packs');
  }

  /** Finds the existing packs; the next id follows the highest. */
  async open(): Promise<number[]> {
    await mkdir(this.dir, { recursive: true });
    const ids = (await readdir(this.dir)).map((f) => PACK_FILE.exec(f)).filter((m) => m !== null).map((m) => Number(m[1]));
    this.nextId = Math.max(0, ...ids) + 1;
    return ids;
  }

  pathOf(pack: number): string {
    return path.join(this.dir, `pack-${String(pack).padStart(8, '0')}.dat`);
  }

  /** Bytes a pack file holds (to check a recorded location at start-up); -1 when it is gone. */
  sizeOf(pack: number): Promise<number> {
    return stat(this.pathOf(pack)).then((s) => s.size, () => -1);
  }

  /** Counts a recorded blob in `pack` (start-up and commits). */
  hold(pack: number): void {
    this.live.set(pack, (this.live.get(pack) ?? 0) + 1);
  }

  /**
   * Appends `blobs` to the current pack and fsyncs it; returns where each landed. Only then
   * may their locations be recorded.
   */
  async append(blobs: readonly Buffer[]): Promise<PackLocation[]> {
    const pack = await this.writable();
    const at = pack.size;
    const out: PackLocation[] = [];
    let offset = at;
    for (const b of blobs) {
      out.push({ pack: pack.id, offset });
      offset += b.length;
    }
    // On failure the tail may hold some of these bytes: nothing records them, and the next
    // append writes over them.
    await pack.fh.writev(blobs as Buffer[], at);
    await pack.fh.sync();
    pack.size = offset;
    return out;
  }

  /** The bytes [offset, offset + length) of a pack. */
  async read(loc: PackLocation, length: number): Promise<Buffer> {
    return readFully(await this.reader(loc.pack), length, loc.offset, `pack ${loc.pack}`);
  }

  /** Bytes [start, end] (inclusive, relative to the blob) of a packed blob as a stream. */
  stream(loc: PackLocation, start: number, end: number): Readable {
    return createReadStream(this.pathOf(loc.pack), { start: loc.offset + start, end: loc.offset + end, highWaterMark: 64 * 1024 });
  }

  /** A blob of `pack` is gone; the pack is deleted once none is left (unless it is being filled). */
  async release(pack: number): Promise<void> {
    const n = (this.live.get(pack) ?? 1) - 1;
    if (n > 0) {
      this.live.set(pack, n);
      return;
    }
    this.live.delete(pack);
    if (this.current?.id === pack) return;
    await this.dropReader(pack);
    await unlink(this.pathOf(pack)).catch(() => undefined);
  }

  /** At start-up: packs no recorded blob lives in are deleted. */
  async removeUnused(ids: readonly number[]): Promise<void> {
    for (const id of ids) if (!this.live.has(id)) await unlink(this.pathOf(id)).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.current?.fh.close().catch(() => undefined);
    this.current = undefined;
    for (const id of [...this.readers.keys()]) await this.dropReader(id);
  }

  private async writable(): Promise<{ id: number; fh: FileHandle; size: number }> {
    if (this.current && this.current.size < PACK_TARGET_BYTES) return this.current;
    if (this.current) {
      const full = this.current;
      this.current = undefined;
      await full.fh.close();
      if (!this.live.has(full.id)) await unlink(this.pathOf(full.id)).catch(() => undefined);
    }
    const id = this.nextId++;
    const fh = await open(this.pathOf(id), 'wx', 0o644);
    // The new name must survive a crash before any location in it is recorded.
    await fsyncDir(this.dir);
    this.current = { id, fh, size: 0 };
    return this.current;
  }

  private reader(pack: number): Promise<FileHandle> {
    let fh = this.readers.get(pack);
    if (!fh) {
      fh = open(this.pathOf(pack), 'r');
      fh.catch(() => this.readers.delete(pack));
      this.readers.set(pack, fh);
    }
    return fh;
  }

  private async dropReader(pack: number): Promise<void> {
    const fh = this.readers.get(pack);
    this.readers.delete(pack);
    await fh?.then((h) => h.close()).catch(() => undefined);
  }
}

/** `length` bytes of an open file from `position`; EIO when the file ends first. */
export async function readFully(fh: FileHandle, length: number, position: number, what: string): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw Object.assign(new Error(`${what} ends before byte ${position + length}`), { code: 'EIO' });
    done += bytesRead;
  }
  return buf;
}
