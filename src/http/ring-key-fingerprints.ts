import type { BlobStore } from '../store/blob-store.js';

/** A key file is a few KiB; one larger is not read. */
const MAX_KEY_BYTES = 64 * 1024;

/**
 * The fingerprints of the rings' public keys as the indexes the primary signed carry them
 * (the catalog names each key file's sha256), for GET /v1/root: what a person compares with
 * the key beside an endpoint's `.sources` or `.repo` file. A key file is parsed once.
 */
export class RingKeyFingerprints {
  /** By the key file's sha256. */
  private readonly known = new Map<string, Promise<string>>();

  constructor(
    private readonly store: BlobStore,
    /** The fingerprint of an armored public key (feeds/repository-key.ts: OpenPGP, loaded when first asked). */
    private readonly fingerprintOf: (armored: string) => Promise<string>,
  ) {}

  /** Each of `rings` (sorted) whose key file this node holds, with its fingerprint. */
  async of(rings: Iterable<string>, keyFileOf: (ring: string) => { readonly sha256: string } | undefined): Promise<{ ring: string; fingerprint: string }[]> {
    const out: { ring: string; fingerprint: string }[] = [];
    for (const ring of [...rings].sort()) {
      const key = keyFileOf(ring);
      if (!key || !this.store.has(key.sha256)) continue;
      let p = this.known.get(key.sha256);
      if (!p) {
        p = readText(this.store.read(key.sha256), MAX_KEY_BYTES).then(this.fingerprintOf);
        p.catch(() => this.known.delete(key.sha256));
        this.known.set(key.sha256, p);
      }
      out.push({ ring, fingerprint: await p });
    }
    return out;
  }
}

/** A small blob's whole text, refusing more than `max` bytes. */
async function readText(stream: NodeJS.ReadableStream, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > max) throw new Error(`larger than ${max} bytes`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}
