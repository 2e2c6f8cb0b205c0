import type { AptIndexView } from '../catalog/catalog-state.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { BlobStore } from '../store/blob-store.js';
import { field, paragraphs } from './deb822.js';
import { APT_SUITE } from './apt-publisher.js';

/** A file a node answers an APT client with: a blob, and how to label it. */
export interface AptFile {
  readonly sha256: string;
  readonly size: number;
  readonly contentType: string;
  /** Named by its content (by-hash, pool): never changes, so caches may keep it. */
  readonly immutable: boolean;
}

/**
 * What a node serves under /apt/: each ring's signed index exactly as the primary made it,
 * and the package files it lists. A node switches to a newer index of a ring only once it
 * holds every file that index lists and every package file its Packages name, so an apt
 * client never sees a Packages naming a file the node cannot serve; until then the previous
 * index is served, and the by-hash files of every index still listed stay reachable, so a
 * client that read the previous InRelease finds its Packages during a switch.
 */
export class AptServing {
  /** Per index (its record's seq): the sha256 of every package file its Packages list. */
  private readonly poolOf = new Map<number, Promise<readonly string[]>>();

  constructor(
    private readonly catalog: CatalogLog,
    private readonly store: BlobStore,
  ) {}

  /** The index served for `ring` now, or undefined when this node holds none whole. */
  async current(ring: string): Promise<AptIndexView | undefined> {
    for (const index of this.catalog.state.aptIndexesOf(ring)) {
      if (!index.files.every((f) => this.store.has(f.sha256))) continue;
      const pool = await this.pool(index);
      if (pool.every((sha) => this.store.has(sha))) return index;
    }
    return undefined;
  }

  /** The public half of the repository key, from the newest index of any ring this node holds. */
  keyFile(): AptFile | undefined {
    let best: { seq: number; file: AptIndexView['files'][number] } | undefined;
    for (const ring of this.catalog.state.aptRings()) {
      for (const index of this.catalog.state.aptIndexesOf(ring)) {
        const key = index.files.find((f) => f.path === 'key.asc');
        if (key && this.store.has(key.sha256) && (!best || index.seq > best.seq)) best = { seq: index.seq, file: key };
      }
    }
    return best ? { sha256: best.file.sha256, size: best.file.size, contentType: 'application/pgp-keys', immutable: false } : undefined;
  }

  /**
   * A path under /apt/RING/: `dists/stable/...` from the index served (by name), or from any
   * index still listed (by hash); `pool/SHA256/NAME` for a package file this node holds.
   */
  async resolve(ring: string, rel: string): Promise<AptFile | undefined> {
    const pool = /^pool\/([0-9a-f]{64})\/[^/]+$/.exec(rel);
    if (pool) {
      const sha = pool[1]!;
      const size = this.store.sizeOf(sha);
      return size === undefined ? undefined : { sha256: sha, size, contentType: rel.endsWith('.deb') ? 'application/vnd.debian.binary-package' : 'application/octet-stream', immutable: true };
    }
    const prefix = `dists/${APT_SUITE}/`;
    if (!rel.startsWith(prefix)) return undefined;
    const path = rel.slice(prefix.length);
    const byHash = /^(.*)\/by-hash\/SHA256\/([0-9a-f]{64})$/.exec(path);
    if (byHash) {
      for (const index of this.catalog.state.aptIndexesOf(ring)) {
        const f = index.files.find((x) => x.sha256 === byHash[2] && x.path.startsWith(`${byHash[1]}/`));
        if (f && this.store.has(f.sha256)) return { sha256: f.sha256, size: f.size, contentType: typeOf(f.path), immutable: true };
      }
      return undefined;
    }
    const index = await this.current(ring);
    const f = index?.files.find((x) => x.path === path && x.path !== 'key.asc');
    return f ? { sha256: f.sha256, size: f.size, contentType: typeOf(f.path), immutable: false } : undefined;
  }

  private pool(index: AptIndexView): Promise<readonly string[]> {
    let p = this.poolOf.get(index.seq);
    if (!p) {
      p = this.readPool(index).catch((err: unknown) => {
        this.poolOf.delete(index.seq);
        throw err;
      });
      this.poolOf.set(index.seq, p);
      // Only the indexes still listed are asked about.
      const listed = new Set([...this.catalog.state.aptRings()].flatMap((r) => this.catalog.state.aptIndexesOf(r).map((i) => i.seq)));
      for (const seq of this.poolOf.keys()) if (!listed.has(seq)) this.poolOf.delete(seq);
    }
    return p;
  }

  /** The SHA256 of every stanza of the index's uncompressed Packages files (blobs held and verified here). */
  private async readPool(index: AptIndexView): Promise<readonly string[]> {
    const out = new Set<string>();
    for (const f of index.files) {
      if (!/\/Packages$/.test(f.path)) continue;
      const stream = this.store.read(f.sha256);
      stream.setEncoding('utf8');
      for await (const p of paragraphs(stream as AsyncIterable<string>)) {
        const sha = field(p, 'SHA256')?.toLowerCase();
        if (sha && /^[0-9a-f]{64}$/.test(sha)) out.add(sha);
      }
    }
    return [...out];
  }
}

function typeOf(path: string): string {
  if (path.endsWith('.gz')) return 'application/gzip';
  if (path.endsWith('InRelease') || path.endsWith('Release') || path.endsWith('Packages')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
