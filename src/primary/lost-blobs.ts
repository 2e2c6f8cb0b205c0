import type { BlobStore } from '../store/blob-store.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import { retiredBlobs } from '../catalog/retention.js';

/**
 * On the primary, blobs named by a package that is not declined but not held here (lost
 * disk, removed by verify): nothing can fetch them until they are restored. Cached per
 * catalog position and store size, since status and scrapes ask often.
 */
export class LostBlobs {
  private cache: { key: string; value: { sha256: string; packages: string[] }[] } | undefined;

  constructor(
    private readonly catalog: CatalogLog,
    private readonly store: BlobStore,
    /** policy.retainSuperseded: files deleted under it are retired, not lost. */
    private readonly retainMs?: number,
  ) {}

  list(): { sha256: string; packages: string[] }[] {
    const key = `${this.catalog.seq}:${this.store.stats().blobs}`;
    if (this.cache?.key === key) return this.cache.value;
    const lost = new Map<string, string[]>();
    const retired = retiredBlobs(this.catalog.state, this.retainMs, Date.now());
    for (const pkg of this.catalog.state.all()) {
      // A vendor feed's files are fetched from the vendor when approved: absent is not lost.
      if (this.catalog.state.stateOf(pkg) === 'declined' || pkg.feed) continue;
      for (const f of pkg.files) if (!this.store.has(f.sha256) && !retired.has(f.sha256)) lost.set(f.sha256, [...(lost.get(f.sha256) ?? []), pkg.id]);
    }
    const value = [...lost].map(([sha256, packages]) => ({ sha256, packages }));
    this.cache = { key, value };
    return value;
  }
}
