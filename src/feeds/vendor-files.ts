import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { SluiceError, isSluiceError } from '../errors.js';
import type { BlobStore, StagedBlob } from '../store/blob-store.js';

/** What the vendor's signed metadata says a file is: checked before a byte of it is read. */
export interface SignedSize {
  readonly size: number;
  readonly sha256: string;
}

/**
 * A vendor repository's files as a feed sync reads them (APT and RPM alike): small ones whole
 * within a bound, indexes spooled to a staging file of the node's store and checked against
 * the size and sha256 the signed metadata lists before anything reads them, so bytes a mirror
 * altered are never decompressed or parsed and memory stays flat whatever their size. A
 * broken connection or an HTTP error is FEED_UNREACHABLE.
 */
export class VendorFiles {
  constructor(
    private readonly store: BlobStore,
    /** The vendor's connection pool (HTTP(S)_PROXY applies). */
    private readonly dispatcher: Dispatcher | undefined,
  ) {}

  /** A whole small file, at most `maxBytes` (FEED_TOO_LARGE beyond); undefined for a 404 when `optional`. */
  async fetch(url: string, maxBytes: number, optional = false): Promise<Buffer | undefined> {
    const body = await this.open(url, optional);
    if (!body) return undefined;
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of fromVendor(body, url)) {
      size += chunk.length;
      if (size > maxBytes) {
        body.destroy();
        throw new SluiceError('FEED_TOO_LARGE', `${url}: larger than the ${maxBytes} bytes Sluice reads of it (a repository's is a few hundred KiB); stopped reading there; nothing was added`);
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  /**
   * The file's bytes in a staging file (never committed; the store empties its staging area
   * at start), reading no more than the signed size, and checked against it and the signed
   * sha256. `listedBy` names what signed them, for the message ("repomd.xml", "the signed
   * Release ... for main/binary-amd64/Packages.xz").
   */
  async spool(url: string, signed: SignedSize, listedBy: { readonly by: string; readonly as?: string }): Promise<StagedBlob> {
    const body = (await this.open(url, false))!;
    let staged: StagedBlob;
    try {
      staged = await this.store.stage(fromVendor(body, url), { maxBytes: signed.size });
    } catch (err) {
      body.destroy();
      if (isSluiceError(err, 'PAYLOAD_TOO_LARGE')) throw new SluiceError('FEED_HASH_MISMATCH', `${url}: more than the ${signed.size} bytes ${listedBy.by} lists${listedBy.as ? ` for ${listedBy.as}` : ''}; stopped reading there; nothing from it was used`);
      throw err;
    }
    if (staged.size !== signed.size || staged.sha256 !== signed.sha256) {
      await this.store.discard(staged);
      throw new SluiceError('FEED_HASH_MISMATCH', `${url}: ${staged.size} bytes with sha256 ${staged.sha256.slice(0, 16)}…, ${listedBy.by} lists ${listedBy.as ? `${listedBy.as} as ` : ''}${signed.size} bytes with ${signed.sha256.slice(0, 16)}…; nothing from it was used`);
    }
    return staged;
  }

  /** The response body of a 200; undefined for a 404 when `optional`. */
  private async open(url: string, optional: boolean): Promise<Readable | undefined> {
    let res;
    try {
      res = await request(url, { dispatcher: this.dispatcher, headersTimeout: 60_000, bodyTimeout: 60_000 });
    } catch (err) {
      throw new SluiceError('FEED_UNREACHABLE', `${url}: ${(err as Error).message}`, { cause: err });
    }
    if (res.statusCode === 404 && optional) {
      await res.body.dump().catch(() => undefined);
      return undefined;
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw new SluiceError('FEED_UNREACHABLE', `${url}: HTTP ${res.statusCode}`);
    }
    return res.body as unknown as Readable;
  }
}

/** The vendor's bytes as they arrive; a broken connection is the vendor's, not the store's. */
async function* fromVendor(body: Readable, url: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk as Buffer;
  } catch (err) {
    throw new SluiceError('FEED_UNREACHABLE', `${url}: ${(err as Error).message}`, { cause: err });
  }
}
