import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { PackageView } from '../catalog/catalog-state.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import { PublishRounds } from './publish-rounds.js';
import { RING_ALL, type RecordBody } from '../catalog/records.js';
import type { Logger } from '../log/logger.js';
import type { BlobStore, StagedBlob } from '../store/blob-store.js';
import type { Topology } from '../topology/types.js';
import { compareDebianVersions } from './debian-version.js';
import type { FeedState } from './feed-state.js';
import { clearsign, type RepositoryKey, type RepositoryKeys } from './repository-key.js';

/** A vendor suite as a ring's repository lays it out. */
interface SuiteLayout {
  readonly components: readonly string[];
  readonly architectures: readonly string[];
}

/** A package placed in one component of a suite. */
interface Placed {
  readonly pkg: PackageView;
  readonly component: string;
}
/** Where a package file lives in a ring's repository: by its sha256, so no two versions collide. */
export const poolPath = (sha256: string, name: string) => `pool/${sha256}/${name}`;

/**
 * Builds, signs and publishes each ring's APT repository index on the primary: for `all` and
 * every ring of the topology, the feed packages approved for it (not declined, not
 * superseded), their vendor paragraphs with Filename pointing into the ring's pool, one
 * `Packages` (and `.gz`) per architecture the feeds follow, a `Release` listing them with a
 * `Valid-Until`, and its clear-signed `InRelease`. The files are stored as blobs and an
 * `apt-index` record names them, so nodes replicate them and serve them unchanged. A package
 * file is listed once the primary holds it (fetched from the vendor, verified); a ring's index
 * is rebuilt when what it lists changes, and re-signed when half its validity is gone.
 */
export class AptPublisher {
  /** Its rounds: one at a time, run again when the catalog or the store calls for it. */
  private readonly rounds: PublishRounds;
  /** Rings already warned about for having no key (once each, not at every round). */
  private readonly keyless = new Set<string>();
  /** Where each approved package sits in its vendor's repository (read once from the feed state). */
  private readonly places = new Map<string, readonly string[]>();

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
  ) {
    // Woken by the next record, by a file stored, and at least every tenth of the validity
    // (an index due for its signature is re-signed).
    this.rounds = new PublishRounds({ catalog: d.catalog, log: d.log, what: 'an APT index', waitMs: () => Math.max(1000, d.validMs / 10), round: async () => {
      for (const ring of this.rings) await this.publish(ring);
    } });
  }

  start(): void {
    this.rounds.start();
  }

  close(): Promise<void> {
    return this.rounds.close();
  }

  /** The rings a repository is published for. */
  get rings(): string[] {
    return [RING_ALL, ...this.d.topology.rings.filter((r) => r !== RING_ALL)];
  }

  /**
   * A file this primary was waiting for is stored (the downloader's "stored" event): the
   * packages it completes go into their rings' indexes at the next round, not at the next
   * catalog change.
   */
  wake(): void {
    this.rounds.wake();
  }

  /** Builds the ring's index of every vendor suite; appends those whose content differs or whose signature is due. Returns whether it did. */
  async publish(ring: string): Promise<boolean> {
    const key = await this.d.keys.keyFor(ring);
    if (!key) {
      if (!this.keyless.has(ring)) this.d.log.error({ ring }, `ring ${ring} has no APT repository key in ${this.d.keys.location}: its APT repository is not published; run "sluice keygen --apt --out ${this.d.keys.location}" (it makes the missing rings' keys), then give the ring's endpoints their .sources file ("sluice apt-source --ring ${ring}")`);
      this.keyless.add(ring);
      return false;
    }
    this.keyless.delete(ring);
    const bySuite = await this.placed(this.packagesFor(ring));
    let any = false;
    for (const [suite, layout] of this.suites) any = (await this.publishSuite(ring, suite, layout, bySuite.get(suite) ?? [], key)) || any;
    return any;
  }

  /** One ring's index of one vendor suite: its components as the vendor names them, each architecture the feeds follow. */
  private async publishSuite(ring: string, suite: string, layout: SuiteLayout, packages: readonly Placed[], key: RepositoryKey): Promise<boolean> {
    const now = (this.d.now ?? Date.now)();
    const files = new Map<string, Buffer>();
    for (const component of layout.components) {
      for (const arch of layout.architectures) {
        const text = await this.packagesText(packages.filter((p) => p.component === component).map((p) => p.pkg), arch);
        files.set(`${component}/binary-${arch}/Packages`, Buffer.from(text));
        files.set(`${component}/binary-${arch}/Packages.gz`, gzipSync(Buffer.from(text), { level: 9 }));
      }
    }
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const previous = this.d.catalog.state.aptIndexesOf(ring, suite)[0];
    const same = previous && [...files].every(([p, b]) => previous.files.some((f) => f.path === p && f.sha256 === digest(b))) && previous.files.filter((f) => f.path.includes('/binary-')).length === files.size;
    const fresh = previous && now - Date.parse(previous.at) < this.d.validMs / 2;
    // A ring's new key (a rotation, or per-ring keys replacing a shared one) re-signs at once.
    const publicKey = Buffer.from(key.publicArmored);
    const sameKey = previous?.files.some((f) => f.path === 'key.asc' && f.sha256 === digest(publicKey));
    if (same && fresh && sameKey) return false;

    const release = this.releaseText(ring, suite, layout, files, now);
    files.set('Release', Buffer.from(release));
    files.set('InRelease', Buffer.from(await clearsign(release, key)));
    files.set('key.asc', publicKey);
    const staged: StagedBlob[] = [];
    try {
      for (const bytes of files.values()) staged.push(await this.d.store.stage((async function* () {
        yield bytes;
      })()));
      const body: RecordBody = { type: 'apt-index', ring, suite, files: [...files].map(([path, b], i) => ({ path, size: b.length, sha256: staged[i]!.sha256 })), by: 'apt', at: new Date(now).toISOString() };
      this.rounds.appended((await this.d.writer.append(() => [body], staged)).length);
    } catch (err) {
      for (const s of staged) await this.d.store.discard(s).catch(() => undefined);
      throw err;
    }
    this.d.log.info({ ring, suite, packages: packages.length }, `APT index of ring ${ring}, suite ${suite} signed and published (${packages.length} package version(s))`);
    return true;
  }

  /**
   * The vendor suites the feeds follow, each with its components and architectures: every
   * ring has one index per suite, so machines of one release never see another's packages.
   */
  private get suites(): Map<string, SuiteLayout> {
    const out = new Map<string, { components: Set<string>; architectures: Set<string> }>();
    for (const feed of this.d.topology.feeds.values()) {
      for (const suite of feed.suites) {
        const l = out.get(suite) ?? { components: new Set<string>(), architectures: new Set<string>() };
        for (const c of feed.components) l.components.add(c);
        for (const a of feed.architectures) l.architectures.add(a);
        out.set(suite, l);
      }
    }
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)).map(([suite, l]) => [suite, { components: [...l.components].sort(), architectures: [...l.architectures].sort() }]));
  }

  /**
   * Each package by the suites it is listed in (the sync recorded its places); one catalogued
   * before places were kept goes to its feed's first suite and component.
   */
  private async placed(packages: readonly PackageView[]): Promise<Map<string, Placed[]>> {
    const out = new Map<string, Placed[]>();
    for (const pkg of packages) {
      let places = this.places.get(pkg.id);
      if (!places) {
        const feed = this.d.topology.feeds.get(pkg.feed!.name);
        places = (await this.d.state.places(pkg.id)) ?? (feed ? [`${feed.suites[0]}/${feed.components[0]}`] : []);
        this.places.set(pkg.id, places);
      }
      for (const place of places) {
        const slash = place.indexOf('/');
        const suite = place.slice(0, slash);
        const list = out.get(suite) ?? [];
        list.push({ pkg, component: place.slice(slash + 1) });
        out.set(suite, list);
      }
    }
    return out;
  }

  /** Feed packages approved for the ring (or for all), neither declined nor superseded, by name then version. */
  private packagesFor(ring: string): PackageView[] {
    const state = this.d.catalog.state;
    const out: PackageView[] = [];
    // An RPM feed's packages are dnf's (rpm-publisher.ts).
    for (const pkg of state.approved()) if (pkg.feed && this.d.topology.feeds.get(pkg.feed.name)?.type !== 'rpm' && state.isWantedBy(pkg, ring === RING_ALL ? [] : [ring])) out.push(pkg);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : compareDebianVersions(a.version, b.version)));
  }

  private async packagesText(packages: readonly PackageView[], arch: string): Promise<string> {
    const stanzas: string[] = [];
    for (const pkg of packages) {
      for (const f of pkg.files) {
        if (f.platform !== undefined && f.platform !== arch) continue;
        // Signed only once held here: an index never lists a file the primary cannot serve.
        if (!this.d.store.has(f.sha256)) continue;
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

  private releaseText(ring: string, suite: string, layout: SuiteLayout, files: ReadonlyMap<string, Buffer>, now: number): string {
    const date = (ms: number) => new Date(ms).toUTCString().replace('GMT', 'UTC');
    const sums = [...files].map(([p, b]) => ` ${createHash('sha256').update(b).digest('hex')} ${String(b.length).padStart(16)} ${p}`);
    return [
      'Origin: Sluice',
      `Label: Sluice ${ring}`,
      `Suite: ${suite}`,
      `Codename: ${suite}`,
      `Date: ${date(now)}`,
      `Valid-Until: ${date(now + this.d.validMs)}`,
      `Architectures: ${layout.architectures.join(' ')}`,
      `Components: ${layout.components.join(' ')}`,
      'Acquire-By-Hash: yes',
      `Description: packages of ${suite} approved for ring ${ring}, signed by the Sluice primary with the ring's key`,
      'SHA256:',
      ...sums,
      '',
    ].join('\n');
  }
}
