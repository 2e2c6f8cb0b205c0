import type { AptIndexView } from '../catalog/catalog-state.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { BlobStore } from '../store/blob-store.js';
import { IndexPools } from './index-pools.js';
import { RingKeyFingerprints } from './ring-key-fingerprints.js';
// The Debian control-file format, shared with the primary's feed sync: a parser, not its work.
import { field, paragraphs } from '../feeds/deb822.js';

/** A file a node answers an APT client with: a blob, and how to label it. */
export interface AptFile {
  readonly sha256: string;
  readonly size: number;
  readonly contentType: string;
  /** Named by its content (by-hash, pool): never changes, so caches may keep it. */
  readonly immutable: boolean;
}

/**
 * What every node serves under /apt/: each ring's signed index exactly as the primary made it,
 * and the package files it lists. A node switches to a newer index of a ring only once it
 * holds every file that index lists and every package file its Packages name, so an apt
 * client never sees a Packages naming a file the node cannot serve; until then the previous
 * index is served, and the by-hash files of every index still listed stay reachable, so a
 * client that read the previous InRelease finds its Packages during a switch.
 */
export class AptServing {
  private readonly pools = new IndexPools();
  constructor(
    private readonly catalog: CatalogLog,
    private readonly store: BlobStore,
    /** The fingerprint of an armored public key (feeds/repository-key.ts: OpenPGP, loaded when first asked). */
    fingerprintOf: (armored: string) => Promise<string>,
  ) {
    this.keys = new RingKeyFingerprints(store, fingerprintOf);
  }

  /** The rings' key fingerprints (GET /v1/root). */
  private readonly keys: RingKeyFingerprints;

  /** The rings this node has an APT index of, held whole or not yet. */
  ringsHeld(): string[] {
    return [...this.catalog.state.aptRings()].sort();
  }

  /** The index served for `ring`'s `suite` now, or undefined when this node holds none whole. */
  async current(ring: string, suite: string): Promise<AptIndexView | undefined> {
    for (const index of this.catalog.state.aptIndexesOf(ring, suite)) {
      if (!index.files.every((f) => this.store.has(f.sha256))) continue;
      const pool = await this.pool(index);
      if ([...pool].every((p) => this.store.has(p.slice(5, 69)))) return index;
    }
    return undefined;
  }

  /**
   * The public half of the ring's key, from the index this node serves for it: a convenience
   * for a person comparing fingerprints. Endpoints take their ring's key from head office
   * (`sluice apt-source`), never from the node they will trust.
   */
  async keyFile(ring: string): Promise<AptFile | undefined> {
    let key: AptIndexView['files'][number] | undefined;
    for (const { suite } of this.catalog.state.aptSuites().filter((s) => s.ring === ring)) {
      const found = (await this.current(ring, suite))?.files.find((f) => f.path === 'key.asc');
      if (found) key = found;
    }
    return key ? { sha256: key.sha256, size: key.size, contentType: 'application/pgp-keys', immutable: false } : undefined;
  }

  /**
   * Each ring's key fingerprint, as the newest index of the ring the catalog lists carries it
   * (the catalog signed by the primary names the key file's sha256): GET /v1/root shows them,
   * so a person can check a `.sources` file against what head office signs with.
   */
  async ringKeyFingerprints(): Promise<{ ring: string; fingerprint: string }[]> {
    return this.keys.of(this.catalog.state.aptRings(), (ring) => this.catalog.state.aptIndexesOf(ring)[0]?.files.find((f) => f.path === 'key.asc'));
  }

  /**
   * A path under /apt/RING/: `dists/SUITE/...` from the suite's index served (by name), or from any
   * index still listed (by hash); `pool/SHA256/NAME` for a package file one of the ring's
   * listed indexes names (never another ring's, nor any other blob this node holds);
   * `key.asc` for the ring's key.
   */
  async resolve(ring: string, rel: string): Promise<AptFile | undefined> {
    if (rel === 'key.asc') return this.keyFile(ring);
    const pool = /^pool\/([0-9a-f]{64})\/[^/]+$/.exec(rel);
    if (pool) {
      const sha = pool[1]!;
      if (!(await this.listedInRing(ring, rel))) return undefined;
      const size = this.store.sizeOf(sha);
      return size === undefined ? undefined : { sha256: sha, size, contentType: rel.endsWith('.deb') ? 'application/vnd.debian.binary-package' : 'application/octet-stream', immutable: true };
    }
    const dists = /^dists\/([A-Za-z0-9._-]{1,64})\/(.+)$/.exec(rel);
    if (!dists) return undefined;
    const suite = dists[1]!;
    const path = dists[2]!;
    const byHash = /^(.*)\/by-hash\/SHA256\/([0-9a-f]{64})$/.exec(path);
    if (byHash) {
      for (const index of this.catalog.state.aptIndexesOf(ring, suite)) {
        const f = index.files.find((x) => x.sha256 === byHash[2] && x.path.startsWith(`${byHash[1]}/`));
        if (f && this.store.has(f.sha256)) return { sha256: f.sha256, size: f.size, contentType: typeOf(f.path), immutable: true };
      }
      return undefined;
    }
    const index = await this.current(ring, suite);
    const f = index?.files.find((x) => x.path === path && x.path !== 'key.asc');
    return f ? { sha256: f.sha256, size: f.size, contentType: typeOf(f.path), immutable: false } : undefined;
  }

  /** Whether a `pool/...` path is named by the Packages of one of the ring's listed indexes. */
  private async listedInRing(ring: string, rel: string): Promise<boolean> {
    for (const index of this.catalog.state.aptIndexesOf(ring)) {
      if (!index.files.filter((f) => /\/Packages$/.test(f.path)).every((f) => this.store.has(f.sha256))) continue;
      if ((await this.pool(index)).has(rel)) return true;
    }
    return false;
  }

  private pool(index: AptIndexView): Promise<ReadonlySet<string>> {
    return this.pools.get(index.seq, () => this.readPool(index), () => new Set([...this.catalog.state.aptRings()].flatMap((r) => this.catalog.state.aptIndexesOf(r).map((i) => i.seq))));
  }

  /** The pool path of every stanza of the index's uncompressed Packages files (blobs held and verified here). */
  private async readPool(index: AptIndexView): Promise<ReadonlySet<string>> {
    const out = new Set<string>();
    for (const f of index.files) {
      if (!/\/Packages$/.test(f.path)) continue;
      const stream = this.store.read(f.sha256);
      stream.setEncoding('utf8');
      for await (const p of paragraphs(stream as AsyncIterable<string>)) {
        const filename = field(p, 'Filename');
        if (filename && /^pool\/[0-9a-f]{64}\/[^/\s]+$/.test(filename)) out.add(filename);
      }
    }
    return out;
  }
}


function typeOf(path: string): string {
  if (path.endsWith('.gz')) return 'application/gzip';
  if (path.endsWith('InRelease') || path.endsWith('Release') || path.endsWith('Packages')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
