import { createReadStream } from 'node:fs';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { FileEntry, RecordBody } from '../catalog/records.js';
import { collectGarbage } from '../log/heap.js';
import { SluiceError } from '../errors.js';
import type { Feed } from '../topology/types.js';
import { VendorFiles } from './vendor-files.js';
import { APPEND_CHUNK, chunksByName } from './append-chunks.js';
import { compareDebianVersions } from './debian-version.js';
import { FeedConflicts, recordFailure, recordSync, type FeedSyncDeps, type FeedSyncResult } from './feed-sync.js';
import { loadKeyring, verifyClearsigned, verifyDetached, type Keyring } from './openpgp-signature.js';
import { MAX_INDEX_BYTES, choosePackagesIndex, readPackagesIndex, type PackageEntry } from './packages-index.js';
import { MAX_RELEASE_BYTES, MAX_RELEASE_LINES, parseRelease, type ReleaseFile } from './release-file.js';

/** Largest Release.gpg a sync reads: a detached signature per archive key is a few hundred bytes. */
const MAX_RELEASE_SIGNATURE_BYTES = 64 * 1024;
/**
 * What one sync holds until it appends: the paragraphs of the versions the catalog lacks (a
 * first sync of all of Debian's main archive for two architectures holds ~100 MiB) and the ids
 * of every version listed (~70,000 there). Beyond, the sync stops rather than the heap.
 */
const MAX_NEW_PARAGRAPH_BYTES = 256 * 1024 * 1024;
const MAX_LISTED_VERSIONS = 1_000_000;

/** A version the catalog lacks, as a sync keeps it until it is appended (its paragraphs are in the database). */
interface NewVersion {
  readonly name: string;
  readonly version: string;
  readonly section: string | undefined;
  readonly source: PackageEntry['source'];
  /** Per architecture (`all` once), the file. */
  readonly files: Map<string, { filename: string; size: number; sha256: string; architecture: string }>;
  /** `SUITE/COMPONENT` where the vendor lists it. */
  readonly places: Set<string>;
}

/** Paragraphs written to the database at once while an index is read. */
const STANZAS_PER_WRITE = 1000;

/**
 * Follows one vendor APT repository at the primary. A sync, for every suite: fetch
 * `InRelease` (or `Release` + `Release.gpg`), verify its OpenPGP signature against the feed's
 * keyring, refuse an expired `Valid-Until` and a `Date` older than the last accepted; fetch
 * each component's and architecture's `Packages` index by the sha256 the signed Release
 * gives (by hash where the repository offers it), spooled to a staging file and checked
 * against the signed size and sha256 before a byte of it is decompressed, then read within
 * bounds (packages-index.ts, deb822.ts). A Release without `Valid-Until` older than the
 * feed's `maxAge` is refused as stale (a mirror frozen on an old snapshot). Only when every
 * suite verified are the versions not yet in the catalog appended, each a package in state
 * `new` (`name@version`, platform = architecture, files with the signed size and sha256, the
 * feed and the file's path recorded), and, for an older version of the same name from the
 * same feed, a `supersede` record (it takes effect once the newer one is approved). A failed
 * or tampered sync adds nothing and says why.
 */
export class AptFeedSync {
  private keyring: Keyring | undefined;

  constructor(
    readonly feed: Feed,
    private readonly d: FeedSyncDeps,
  ) {
    this.files = new VendorFiles(d.store, d.dispatcher);
  }

  /** The vendor's files: small ones whole, indexes spooled and checked against the signed metadata. */
  private readonly files: VendorFiles;

  async sync(): Promise<FeedSyncResult> {
    const now = this.d.now ?? Date.now;
    const at = new Date(now()).toISOString();
    const run = { feed: this.feed.name, state: this.d.state, at, now };
    try {
      this.keyring ??= await loadKeyring(this.feed.keyringPath);
      const dates = new Map<string, number>();
      // Only versions the catalog lacks are kept, and lightly: their paragraphs go to the
      // database as they are read (a suite of the main archive lists some 60,000 versions,
      // nearly all known after the first sync; the first sync's paragraphs are ~50 MB).
      const found = new Map<string, NewVersion>();
      const listed = new Set<string>();
      const conflicts = new FeedConflicts(this.feed.name);
      const pending: { id: string; arch: string; text: string }[] = [];
      const flush = async () => {
        if (pending.length) await this.d.state.saveStanzas(pending.splice(0));
      };
      let held = 0;
      let validUntil: number | undefined;
      for (const suite of this.feed.suites) {
        const release = await this.release(suite, now());
        dates.set(suite, release.dateMs);
        if (release.validUntilMs !== undefined) validUntil = Math.min(validUntil ?? Infinity, release.validUntilMs);
        for (const component of this.feed.components) {
          for (const arch of this.feed.architectures) {
            await this.readIndex(suite, release, component, arch, async (p) => {
              const id = `${p.name}@${p.version}`;
              listed.add(id);
              if (listed.size > MAX_LISTED_VERSIONS) throw new SluiceError('FEED_TOO_LARGE', `feed ${this.feed.name}: its indexes list more than ${MAX_LISTED_VERSIONS} versions; follow fewer (the feed's packages, components or architectures); nothing was added`);
              const known = this.d.catalog.state.get(id);
              if (known) {
                conflicts.note(id, known, p.sha256);
                return;
              }
              held += p.stanza.length;
              if (held > MAX_NEW_PARAGRAPH_BYTES) throw new SluiceError('FEED_TOO_LARGE', `feed ${this.feed.name}: more than ${MAX_NEW_PARAGRAPH_BYTES} bytes of new package paragraphs in one sync; follow fewer packages (the feed's packages, components or architectures); nothing was added`);
              const v = found.get(id) ?? { name: p.name, version: p.version, section: p.section, source: p.source, files: new Map(), places: new Set<string>() };
              // An `all` package is listed in every architecture's index: one file.
              const fileArch = p.architecture === 'all' ? 'all' : p.architecture;
              if (!v.files.has(fileArch)) pending.push({ id, arch: fileArch, text: p.stanza });
              v.files.set(fileArch, { filename: p.filename, size: p.size, sha256: p.sha256, architecture: p.architecture });
              v.places.add(`${suite}/${component}`);
              found.set(id, v);
              if (pending.length >= STANZAS_PER_WRITE) await flush();
            });
            await flush();
          }
        }
      }
      // Where each new version sits in the vendor's repository (suite and component): a ring's
      // index keeps the vendor's suites apart. Written with the paragraphs, before the records.
      await this.d.state.savePlaces([...found].map(([id, v]) => ({ id, places: [...v.places] })));
      // Appended a few thousand records at a time, each name's new versions together, so the
      // primary never holds a whole archive's records and their batch at once.
      const ids: string[] = [];
      for (const chunk of chunksByName(found, APPEND_CHUNK, compareDebianVersions)) {
        const tips = await this.chainTips(chunk);
        const appended = await this.d.writer.append((log) => this.recordsFor(log, chunk, tips, at));
        for (const r of appended) if (r.type === 'publish') ids.push(r.id);
        if (appended.length >= APPEND_CHUNK / 2) collectGarbage();
      }
      const validUntilText = validUntil === undefined ? null : new Date(validUntil).toISOString();
      return await recordSync(run, { dates, ids, listed: listed.size, conflicts, validUntil: validUntilText });
    } catch (err) {
      throw await recordFailure(run, err);
    }
  }

  /**
   * Per vendor suite and package name, the newest version of this feed already catalogued and
   * not yet superseded: where the chunk's new versions attach. Chains are per suite, since a
   * feed may follow two releases (bookworm-security, trixie-security) whose versions of one
   * name must never replace each other.
   */
  private async chainTips(chunk: readonly [string, NewVersion][]): Promise<Map<string, string>> {
    const tips = new Map<string, string>();
    for (const name of new Set(chunk.map(([, v]) => v.name))) {
      for (const pkg of this.d.catalog.state.byName(name)) {
        if (pkg.feed?.name !== this.feed.name || pkg.supersededBy) continue;
        const places = (await this.d.state.places(pkg.id)) ?? [`${this.feed.suites[0]}/${this.feed.components[0]}`];
        for (const place of places) tips.set(`${place.slice(0, place.indexOf('/'))}\u0000${name}`, pkg.id);
      }
    }
    return tips;
  }

  /** New versions as publish records (and supersede records for older ones of this feed, per suite), inside the writer's lock. */
  private recordsFor(log: CatalogLog, chunk: readonly [string, NewVersion][], tips: ReadonlyMap<string, string>, at: string): RecordBody[] {
    const by = `feed:${this.feed.name}`;
    const out: RecordBody[] = [];
    const fresh = chunk.filter(([id]) => !log.state.get(id));
    for (const [id, v] of fresh) {
      const list = [...v.files.values()];
      const entries: FileEntry[] = list.map((f) => ({ name: f.filename.slice(f.filename.lastIndexOf('/') + 1), size: f.size, sha256: f.sha256, ...(f.architecture === 'all' ? {} : { platform: f.architecture }) }));
      const source = v.source.name === v.name && v.source.version === v.version ? undefined : { name: v.source.name, ...(v.source.version === v.version ? {} : { version: v.source.version }) };
      out.push({ type: 'publish', id, severity: this.feed.severity, ...(v.section ? { classification: v.section.slice(0, 64) } : {}), files: entries, feed: { name: this.feed.name, paths: list.map((f) => f.filename) }, ...(source ? { source } : {}), by, at });
    }
    // Versions of one name from this feed in one suite form a chain, oldest first: each new
    // version supersedes the one before it (in force once the newer one is approved). The
    // chain attaches to the newest version already catalogued there (the tip).
    const chains = new Map<string, { id: string; version: string; fresh: boolean }[]>();
    for (const [id, v] of fresh) {
      const first = [...v.places][0]!;
      const key = `${first.slice(0, first.indexOf('/'))}\u0000${v.name}`;
      let chain = chains.get(key);
      if (!chain) {
        const tip = tips.get(key);
        const tipPkg = tip === undefined ? undefined : log.state.get(tip);
        chains.set(key, (chain = tipPkg && !tipPkg.supersededBy ? [{ id: tipPkg.id, version: tipPkg.version, fresh: false }] : []));
      }
      chain.push({ id, version: v.version, fresh: true });
    }
    for (const chain of chains.values()) {
      chain.sort((x, y) => compareDebianVersions(x.version, y.version));
      for (let i = 0; i + 1 < chain.length; i++) if (chain[i + 1]!.fresh) out.push({ type: 'supersede', id: chain[i]!.id, supersededBy: chain[i + 1]!.id, by, at });
    }
    return out;
  }

  /** The suite's Release, verified and checked against expiry and rollback. */
  private async release(suite: string, nowMs: number): Promise<ReleaseFile> {
    const base = `${this.feed.url}/dists/${suite}`;
    let signedText: string;
    const inRelease = await this.files.fetch(`${base}/InRelease`, MAX_RELEASE_BYTES, true);
    if (inRelease) signedText = await verifyClearsigned(withinLines(inRelease, `${base}/InRelease`).toString('utf8'), this.keyring!, nowMs);
    else {
      const data = withinLines((await this.files.fetch(`${base}/Release`, MAX_RELEASE_BYTES))!, `${base}/Release`);
      const sig = await this.files.fetch(`${base}/Release.gpg`, MAX_RELEASE_SIGNATURE_BYTES);
      signedText = await verifyDetached(data, sig!, this.keyring!, nowMs);
    }
    const release = await parseRelease(signedText, `${base}/InRelease`);
    if (release.validUntilMs !== undefined && release.validUntilMs <= nowMs) {
      throw new SluiceError('FEED_STALE', `${base}: its Valid-Until (${new Date(release.validUntilMs).toISOString()}) has passed; the mirror serves an outdated snapshot; nothing was added`);
    }
    // Without Valid-Until, nothing in the Release says it is outdated: a mirror frozen on an
    // old snapshot would be accepted forever. Its age is the only sign.
    if (release.validUntilMs === undefined && release.dateMs < nowMs - this.feed.maxAgeMs) {
      throw new SluiceError(
        'FEED_STALE',
        `${base}: its Release has no Valid-Until and is dated ${new Date(release.dateMs).toISOString()}, older than the feed's maxAge (${durationText(this.feed.maxAgeMs)}): a mirror may be frozen on an old snapshot; nothing was added. Use a mirror that is up to date; a suite that changes only at point releases (Debian's bookworm has no Valid-Until and its Date moves only at point releases) needs a longer maxAge, such as 120d`,
      );
    }
    const last = await this.d.state.lastDateMs(this.feed.name, suite);
    if (last !== undefined && release.dateMs < last) {
      throw new SluiceError('FEED_ROLLBACK', `${base}: its Release is dated ${new Date(release.dateMs).toISOString()}, older than the one accepted before (${new Date(last).toISOString()}); an old snapshot replayed; nothing was added`);
    }
    return release;
  }

  private async readIndex(suite: string, release: ReleaseFile, component: string, arch: string, onPackage: (p: PackageEntry) => void | Promise<void>): Promise<void> {
    const chosen = choosePackagesIndex(release.indexes, component, arch);
    const base = `${this.feed.url}/dists/${suite}`;
    if (!chosen) throw new SluiceError('FEED_MALFORMED', `${base}: the signed Release lists no Packages index for ${component}/binary-${arch}; check the feed's components and architectures`);
    const { entry, suffix, plain } = chosen;
    for (const e of [entry, plain]) {
      if (e && e.size > MAX_INDEX_BYTES) throw new SluiceError('FEED_TOO_LARGE', `${base}: the signed Release lists ${e.path} as ${e.size} bytes, more than the ${MAX_INDEX_BYTES} Sluice reads of one index; nothing was added`);
    }
    const dir = entry.path.slice(0, entry.path.lastIndexOf('/'));
    // By hash, an index cannot change under the sync while the mirror updates.
    const url = release.acquireByHash ? `${base}/${dir}/by-hash/SHA256/${entry.sha256}` : `${base}/${entry.path}`;
    const staged = await this.files.spool(url, entry, { by: 'the signed Release', as: entry.path });
    try {
      const file = createReadStream(staged.tmpPath);
      try {
        await readPackagesIndex(file, { entry, suffix, plain }, url, onPackage, this.feed.packages);
      } finally {
        file.destroy();
      }
    } finally {
      await this.d.store.discard(staged);
    }
  }
}

/** `bytes`, once it has no more than MAX_RELEASE_LINES lines (counted before the signature is checked: see release-file.ts). */
function withinLines(bytes: Buffer, url: string): Buffer {
  let lines = 0;
  for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) {
    if (++lines > MAX_RELEASE_LINES) throw new SluiceError('FEED_TOO_LARGE', `${url}: more than ${MAX_RELEASE_LINES} lines (a repository's has a few thousand); its signature was not checked; nothing was added`);
  }
  return bytes;
}

/** A duration as topology.yaml would write it: `7d`, `36h`. */
const durationText = (ms: number): string => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${Math.round(ms / 3_600_000)}h`);
