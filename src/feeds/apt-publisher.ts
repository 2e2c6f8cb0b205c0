import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { PackageView } from '../catalog/catalog-state.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import { RING_ALL, type RecordBody } from '../catalog/records.js';
import type { Logger } from '../log/logger.js';
import type { BlobStore, StagedBlob } from '../store/blob-store.js';
import type { Topology } from '../topology/types.js';
import { compareDebianVersions } from './debian-version.js';
import type { FeedState } from './feed-state.js';
import { clearsign, type RepositoryKeys } from './repository-key.js';

/** The suite and component every ring's repository has: `deb … /apt/RING stable main`. */
export const APT_SUITE = 'stable';
export const APT_COMPONENT = 'main';
/** Where a package file lives in a ring's repository: by its sha256, so no two versions collide. */
export const poolPath = (sha256: string, name: string) => `pool/${sha256}/${name}`;

/** Waits this long after a catalog change before building, so an approval burst makes one index. */
const SETTLE_MS = 300;

/**
 * Builds, signs and publishes each ring's APT repository index on the primary: for `all` and
 * every ring of the topology, the feed packages approved for it (not declined, not
 * superseded), their vendor paragraphs with Filename pointing into the ring's pool, one
 * `Packages` (and `.gz`) per architecture the feeds follow, a `Release` listing them with a
 * `Valid-Until`, and its clear-signed `InRelease`. The files are stored as blobs and an
 * `apt-index` record names them, so nodes replicate them and serve them unchanged. A ring's
 * index is rebuilt when what it lists changes, and re-signed when half its validity is gone.
 */
export class AptPublisher {
  private running: Promise<void> | undefined;
  private readonly stop = new AbortController();
  /** Rings already warned about for having no key (once each, not at every round). */
  private readonly keyless = new Set<string>();

  constructor(
    private readonly d: {
      readonly catalog: CatalogLog;
      readonly writer: CatalogWriter;
      readonly store: BlobStore;
      readonly state: FeedState;
      /** Each ring's signing key (repository-key.ts). */
      readonly keys: RepositoryKeys;
      readonly topology: Topology;
      readonly log: Logger;
      /**
       * How long an index is valid (Valid-Until, trust.aptIndexTtl); re-signed at half of it.
       * Short, because it is also how long a hub can replay an old index to a new machine.
       */
      readonly validMs: number;
      readonly now?: () => number;
    },
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  /** The rings a repository is published for. */
  get rings(): string[] {
    return [RING_ALL, ...this.d.topology.rings.filter((r) => r !== RING_ALL)];
  }

  private get architectures(): string[] {
    return [...new Set([...this.d.topology.feeds.values()].flatMap((f) => f.architectures))].sort();
  }

  private async loop(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const seq = this.d.catalog.seq;
      try {
        for (const ring of this.rings) await this.publish(ring);
      } catch (err) {
        if (!signal.aborted) this.d.log.error({ err: (err as Error).message }, 'building an APT index failed; retrying after the next catalog change');
      }
      // Woken by the next record (its own index records included: they change nothing, so
      // the round after them publishes nothing), and at least every tenth of the validity.
      await this.d.catalog.waitForRecords(this.d.catalog.seq > seq ? this.d.catalog.seq : seq, Math.max(1000, this.d.validMs / 10), signal);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS).unref());
    }
  }

  /** Builds the ring's index; appends it when its content differs or its signature is due. Returns whether it did. */
  async publish(ring: string): Promise<boolean> {
    const now = (this.d.now ?? Date.now)();
    const key = await this.d.keys.keyFor(ring);
    if (!key) {
      if (!this.keyless.has(ring)) this.d.log.error({ ring }, `ring ${ring} has no APT repository key in ${this.d.keys.location}: its APT repository is not published; run "sluice keygen --apt --out ${this.d.keys.location}" (it makes the missing rings' keys), then give the ring's endpoints their .sources file ("sluice apt-source --ring ${ring}")`);
      this.keyless.add(ring);
      return false;
    }
    this.keyless.delete(ring);
    const packages = this.packagesFor(ring);
    const files = new Map<string, Buffer>();
    for (const arch of this.architectures) {
      const text = await this.packagesText(packages, arch);
      files.set(`${APT_COMPONENT}/binary-${arch}/Packages`, Buffer.from(text));
      files.set(`${APT_COMPONENT}/binary-${arch}/Packages.gz`, gzipSync(Buffer.from(text), { level: 9 }));
    }
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const previous = this.d.catalog.state.aptIndexesOf(ring)[0];
    const same = previous && [...files].every(([p, b]) => previous.files.some((f) => f.path === p && f.sha256 === digest(b))) && previous.files.filter((f) => f.path.includes('/binary-')).length === files.size;
    const fresh = previous && now - Date.parse(previous.at) < this.d.validMs / 2;
    // A ring's new key (a rotation, or per-ring keys replacing a shared one) re-signs at once.
    const publicKey = Buffer.from(key.publicArmored);
    const sameKey = previous?.files.some((f) => f.path === 'key.asc' && f.sha256 === digest(publicKey));
    if (same && fresh && sameKey) return false;

    const release = this.releaseText(ring, files, now);
    files.set('Release', Buffer.from(release));
    files.set('InRelease', Buffer.from(await clearsign(release, key)));
    files.set('key.asc', publicKey);
    const staged: StagedBlob[] = [];
    try {
      for (const bytes of files.values()) staged.push(await this.d.store.stage((async function* () {
        yield bytes;
      })()));
      const body: RecordBody = { type: 'apt-index', ring, suite: APT_SUITE, files: [...files].map(([path, b], i) => ({ path, size: b.length, sha256: staged[i]!.sha256 })), by: 'apt', at: new Date(now).toISOString() };
      await this.d.writer.append(() => [body], staged);
    } catch (err) {
      for (const s of staged) await this.d.store.discard(s).catch(() => undefined);
      throw err;
    }
    this.d.log.info({ ring, packages: packages.length }, `APT index of ring ${ring} signed and published (${packages.length} package version(s))`);
    return true;
  }

  /** Feed packages approved for the ring (or for all), neither declined nor superseded, by name then version. */
  private packagesFor(ring: string): PackageView[] {
    const state = this.d.catalog.state;
    const out: PackageView[] = [];
    for (const pkg of state.approved()) if (pkg.feed && state.isWantedBy(pkg, ring === RING_ALL ? [] : [ring])) out.push(pkg);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : compareDebianVersions(a.version, b.version)));
  }

  private async packagesText(packages: readonly PackageView[], arch: string): Promise<string> {
    const stanzas: string[] = [];
    for (const pkg of packages) {
      for (const f of pkg.files) {
        if (f.platform !== undefined && f.platform !== arch) continue;
        const stanza = await this.d.state.stanza(pkg.id, f.platform ?? 'all');
        if (!stanza) continue;
        // The vendor's paragraph, with the file where this repository serves it. Only a line
        // that starts the stanza or follows a newline is a field: with the m flag, ^ would
        // also match after a CR or U+2028 inside another field's value, and rewrite that.
        stanzas.push(stanza.replace(/(^|\n)Filename:[^\n]*/i, `$1Filename: ${poolPath(f.sha256, f.name)}`));
      }
    }
    return stanzas.length ? `${stanzas.join('\n\n')}\n` : '';
  }

  private releaseText(ring: string, files: ReadonlyMap<string, Buffer>, now: number): string {
    const date = (ms: number) => new Date(ms).toUTCString().replace('GMT', 'UTC');
    const sums = [...files].map(([p, b]) => ` ${createHash('sha256').update(b).digest('hex')} ${String(b.length).padStart(16)} ${p}`);
    return [
      'Origin: Sluice',
      `Label: Sluice ${ring}`,
      `Suite: ${APT_SUITE}`,
      `Codename: ${APT_SUITE}`,
      `Date: ${date(now)}`,
      `Valid-Until: ${date(now + this.d.validMs)}`,
      `Architectures: ${this.architectures.join(' ')}`,
      `Components: ${APT_COMPONENT}`,
      'Acquire-By-Hash: yes',
      `Description: packages approved for ring ${ring}, signed by the Sluice primary`,
      'SHA256:',
      ...sums,
      '',
    ].join('\n');
  }
}
