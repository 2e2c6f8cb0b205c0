import type { RpmIndexView } from '../catalog/catalog-state.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { BlobStore } from '../store/blob-store.js';
import { IndexPools } from './index-pools.js';
import { RingKeyFingerprints } from './ring-key-fingerprints.js';
import type { AptFile } from './apt-serving.js';
import { readRepodataXml } from '../feeds/repodata-stream.js';

/** A served primary.xml is read within this many bytes decompressed (the primary signed it; the bound keeps a node's memory flat). */
const MAX_PRIMARY_BYTES = 1024 * 1024 * 1024;

/**
 * What a node serves under /rpm/: each ring's signed dnf repositories exactly as the primary
 * made them, and the package files they list. A node switches to a newer index of a ring's
 * repository only once it holds every file that index lists and every package file its
 * primary.xml names, so dnf never reads a repomd.xml naming a file the node cannot serve; until
 * then the previous index is served. Metadata files are named by their sha256, so those of
 * every index still listed stay reachable by name while a client that read the previous
 * repomd.xml fetches them. A ring's pool serves only the files its listed indexes name.
 */
export class RpmServing {
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

  /** The rings this node holds a dnf repository of (for a message naming them). */
  ringsHeld(): string[] {
    return [...new Set(this.catalog.state.rpmRepos().map((r) => r.ring))].sort();
  }

  /** The index served for `ring`'s `repo` now, or undefined when this node holds none whole. */
  async current(ring: string, repo: string): Promise<RpmIndexView | undefined> {
    for (const index of this.catalog.state.rpmIndexesOf(ring, repo)) {
      if (!index.files.every((f) => this.store.has(f.sha256))) continue;
      const pool = await this.pool(index);
      if ([...pool].every((p) => this.store.has(p.slice(5, 69)))) return index;
    }
    return undefined;
  }

  /**
   * A path under /rpm/RING/: `REPO/repodata/repomd.xml` (and `.asc`) from the repository's index
   * served; `REPO/repodata/FILE` from any index still listed; `REPO/pool/SHA256/NAME` for a
   * package file one of the ring's listed indexes of that repository names; `key.asc` for the
   * ring's key (to compare fingerprints; endpoints take it from head office).
   */
  async resolve(ring: string, rel: string): Promise<AptFile | undefined> {
    if (rel === 'key.asc') {
      for (const { repo } of this.catalog.state.rpmRepos().filter((r) => r.ring === ring)) {
        const key = (await this.current(ring, repo))?.files.find((f) => f.path === 'key.asc');
        if (key) return { sha256: key.sha256, size: key.size, contentType: 'application/pgp-keys', immutable: false };
      }
      return undefined;
    }
    const m = /^([a-z0-9][a-z0-9_-]{0,62})\/(.+)$/.exec(rel);
    if (!m) return undefined;
    const repo = m[1]!;
    const path = m[2]!;
    const pool = /^pool\/([0-9a-f]{64})\/[^/]+$/.exec(path);
    if (pool) {
      if (!(await this.listed(ring, repo, path))) return undefined;
      const size = this.store.sizeOf(pool[1]!);
      return size === undefined ? undefined : { sha256: pool[1]!, size, contentType: path.endsWith('.rpm') ? 'application/x-rpm' : 'application/octet-stream', immutable: true };
    }
    if (path === 'repodata/repomd.xml' || path === 'repodata/repomd.xml.asc') {
      const f = (await this.current(ring, repo))?.files.find((x) => x.path === path);
      return f ? { sha256: f.sha256, size: f.size, contentType: path.endsWith('.asc') ? 'application/pgp-signature' : 'text/xml; charset=utf-8', immutable: false } : undefined;
    }
    if (!/^repodata\/[0-9a-f]{64}-[a-z0-9_-]+\.xml\.gz$/.test(path)) return undefined;
    for (const index of this.catalog.state.rpmIndexesOf(ring, repo)) {
      const f = index.files.find((x) => x.path === path);
      if (f && this.store.has(f.sha256)) return { sha256: f.sha256, size: f.size, contentType: 'application/gzip', immutable: true };
    }
    return undefined;
  }

  /** Each ring's key fingerprint, as the newest dnf index of the ring carries it (GET /v1/root). */
  async ringKeyFingerprints(): Promise<{ ring: string; fingerprint: string }[]> {
    return this.keys.of(this.catalog.state.rpmRings(), (ring) => this.catalog.state.rpmIndexesOf(ring)[0]?.files.find((f) => f.path === 'key.asc'));
  }

  /** Whether a `pool/...` path is named by the primary.xml of one of the ring's listed indexes of `repo`. */
  private async listed(ring: string, repo: string, path: string): Promise<boolean> {
    for (const index of this.catalog.state.rpmIndexesOf(ring, repo)) {
      const primary = index.files.find((f) => /^repodata\/[0-9a-f]{64}-primary\.xml\.gz$/.test(f.path));
      if (!primary || !this.store.has(primary.sha256)) continue;
      if ((await this.pool(index)).has(path)) return true;
    }
    return false;
  }

  private pool(index: RpmIndexView): Promise<ReadonlySet<string>> {
    return this.pools.get(index.seq, () => this.readPool(index), () => new Set(this.catalog.state.rpmRepos().flatMap(({ ring, repo }) => this.catalog.state.rpmIndexesOf(ring, repo).map((i) => i.seq))));
  }

  /** The location of every package of the index's primary.xml (a blob held and verified here). */
  private async readPool(index: RpmIndexView): Promise<ReadonlySet<string>> {
    const out = new Set<string>();
    const primary = index.files.find((f) => /^repodata\/[0-9a-f]{64}-primary\.xml\.gz$/.test(f.path));
    if (!primary || !this.store.has(primary.sha256)) return out;
    const stream = this.store.read(primary.sha256);
    try {
      await readRepodataXml(stream, { suffix: '.gz', limit: MAX_PRIMARY_BYTES }, `${index.ring}/${index.repo} primary.xml`, (e) => {
        if (e.name === 'location' && e.path.length === 2 && /^pool\/[0-9a-f]{64}\/[^/\s]+$/.test(e.attributes.href ?? '')) out.add(e.attributes.href!);
      });
    } finally {
      stream.destroy();
    }
    return out;
  }
}
