import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import type { FileEntry, RecordBody } from '../catalog/records.js';
import { SluiceError, isSluiceError, toSluiceError } from '../errors.js';
import type { BlobStore, StagedBlob } from '../store/blob-store.js';
import type { Feed } from '../topology/types.js';
import { compareDebianVersions } from './debian-version.js';
import type { FeedState, FeedSyncOutcome } from './feed-state.js';
import { loadKeyring, verifyClearsigned, verifyDetached, type Keyring } from './openpgp-signature.js';
import { MAX_INDEX_BYTES, choosePackagesIndex, readPackagesIndex, type PackageEntry } from './packages-index.js';
import { MAX_RELEASE_BYTES, MAX_RELEASE_LINES, parseRelease, type IndexEntry, type ReleaseFile } from './release-file.js';

/** Largest Release.gpg a sync reads: a detached signature per archive key is a few hundred bytes. */
const MAX_RELEASE_SIGNATURE_BYTES = 64 * 1024;
/**
 * What one sync holds until it appends: the paragraphs of the versions the catalog lacks (a
 * first sync of all of Debian's main archive for two architectures holds ~100 MiB) and the ids
 * of every version listed (~70,000 there). Beyond, the sync stops rather than the heap.
 */
const MAX_NEW_PARAGRAPH_BYTES = 256 * 1024 * 1024;
const MAX_LISTED_VERSIONS = 1_000_000;

export interface FeedSyncDeps {
  readonly catalog: CatalogLog;
  readonly writer: CatalogWriter;
  readonly state: FeedState;
  /** Where an index is spooled (a staging file, never committed) and checked before it is read. */
  readonly store: BlobStore;
  readonly dispatcher?: Dispatcher;
  readonly now?: () => number;
}

/** What one sync of one feed did. */
export interface FeedSyncResult extends FeedSyncOutcome {
  readonly feed: string;
  /** The ids added, in catalog order. */
  readonly ids: readonly string[];
}

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
  ) {}

  async sync(): Promise<FeedSyncResult> {
    const now = this.d.now ?? Date.now;
    const at = new Date(now()).toISOString();
    try {
      this.keyring ??= await loadKeyring(this.feed.keyringPath);
      const dates = new Map<string, number>();
      // Only versions the catalog lacks are kept whole (with their paragraphs): a suite of the
      // main archive lists some 60,000, nearly all known after the first sync.
      const found = new Map<string, { entry: PackageEntry; files: Map<string, PackageEntry> }>();
      const listed = new Set<string>();
      let held = 0;
      let validUntil: number | undefined;
      for (const suite of this.feed.suites) {
        const release = await this.release(suite, now());
        dates.set(suite, release.dateMs);
        if (release.validUntilMs !== undefined) validUntil = Math.min(validUntil ?? Infinity, release.validUntilMs);
        for (const component of this.feed.components) {
          for (const arch of this.feed.architectures) {
            await this.readIndex(suite, release, component, arch, (p) => {
              const id = `${p.name}@${p.version}`;
              listed.add(id);
              if (listed.size > MAX_LISTED_VERSIONS) throw new SluiceError('FEED_TOO_LARGE', `feed ${this.feed.name}: its indexes list more than ${MAX_LISTED_VERSIONS} versions; follow fewer (the feed's packages, components or architectures); nothing was added`);
              if (this.d.catalog.state.get(id)) return;
              held += p.stanza.length;
              if (held > MAX_NEW_PARAGRAPH_BYTES) throw new SluiceError('FEED_TOO_LARGE', `feed ${this.feed.name}: more than ${MAX_NEW_PARAGRAPH_BYTES} bytes of new package paragraphs in one sync; follow fewer packages (the feed's packages, components or architectures); nothing was added`);
              const pkg = found.get(id) ?? { entry: p, files: new Map() };
              // An `all` package is listed in every architecture's index: one file.
              pkg.files.set(p.architecture === 'all' ? 'all' : p.architecture, p);
              found.set(id, pkg);
            });
          }
        }
      }
      const stanzas = [...found].filter(([id]) => !this.d.catalog.state.get(id)).flatMap(([id, { files }]) => [...files].map(([arch, f]) => ({ id, arch, text: f.stanza })));
      await this.d.state.saveStanzas(stanzas);
      const bodies = (log: CatalogLog) => this.recordsFor(log, found, at);
      const appended = await this.d.writer.append(bodies);
      const ids = appended.filter((r) => r.type === 'publish').map((r) => (r as { id: string }).id);
      const outcome: FeedSyncOutcome = { at, durationMs: Math.round(now() - Date.parse(at)), ok: true, added: ids.length, listed: listed.size, error: null, validUntil: validUntil === undefined ? null : new Date(validUntil).toISOString() };
      await this.d.state.accept(this.feed.name, dates, outcome);
      return { ...outcome, feed: this.feed.name, ids };
    } catch (err) {
      const e = toSluiceError(err, `feed ${this.feed.name}`, 'FEED_UNREACHABLE');
      const outcome: FeedSyncOutcome = { at, durationMs: Math.round(now() - Date.parse(at)), ok: false, added: 0, listed: 0, error: { code: e.code, message: e.message }, validUntil: null };
      await this.d.state.failed(this.feed.name, outcome).catch(() => undefined);
      throw e;
    }
  }

  /** New versions as publish records (and supersede records for older ones of this feed), inside the writer's lock. */
  private recordsFor(log: CatalogLog, found: Map<string, { entry: PackageEntry; files: Map<string, PackageEntry> }>, at: string): RecordBody[] {
    const by = `feed:${this.feed.name}`;
    const out: RecordBody[] = [];
    const fresh = [...found].filter(([id]) => !log.state.get(id)).sort(([, a], [, b]) => (a.entry.name < b.entry.name ? -1 : a.entry.name > b.entry.name ? 1 : compareDebianVersions(a.entry.version, b.entry.version)));
    for (const [id, { entry, files }] of fresh) {
      const list = [...files.values()];
      const entries: FileEntry[] = list.map((f) => ({ name: f.filename.slice(f.filename.lastIndexOf('/') + 1), size: f.size, sha256: f.sha256, ...(f.architecture === 'all' ? {} : { platform: f.architecture }) }));
      out.push({ type: 'publish', id, severity: this.feed.severity, ...(entry.section ? { classification: entry.section.slice(0, 64) } : {}), files: entries, feed: { name: this.feed.name, paths: list.map((f) => f.filename) }, by, at });
    }
    // Versions of one name from this feed form a chain, oldest first: each new version
    // supersedes the one before it (in force once the newer one is approved).
    const chains = new Map<string, { id: string; version: string; fresh: boolean }[]>();
    const link = (name: string, v: { id: string; version: string; fresh: boolean }) => chains.set(name, [...(chains.get(name) ?? []), v]);
    for (const pkg of log.state.all()) if (pkg.feed?.name === this.feed.name && !pkg.supersededBy) link(pkg.name, { id: pkg.id, version: pkg.version, fresh: false });
    for (const [id, { entry }] of fresh) link(entry.name, { id, version: entry.version, fresh: true });
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
    const inRelease = await this.fetch(`${base}/InRelease`, MAX_RELEASE_BYTES, true);
    if (inRelease) signedText = await verifyClearsigned(withinLines(inRelease, `${base}/InRelease`).toString('utf8'), this.keyring!, nowMs);
    else {
      const data = withinLines((await this.fetch(`${base}/Release`, MAX_RELEASE_BYTES))!, `${base}/Release`);
      const sig = await this.fetch(`${base}/Release.gpg`, MAX_RELEASE_SIGNATURE_BYTES);
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

  private async readIndex(suite: string, release: ReleaseFile, component: string, arch: string, onPackage: (p: PackageEntry) => void): Promise<void> {
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
    const staged = await this.spool(url, entry);
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

  /**
   * The index's bytes, spooled to a staging file of the node's store (never committed; the
   * store empties its staging area at start) and checked against the size and sha256 the
   * signed Release lists before anything reads them: reading stops as soon as more than the
   * signed size has arrived, and bytes a mirror altered are never decompressed or parsed.
   * Memory stays flat whatever the index's size.
   */
  private async spool(url: string, entry: IndexEntry): Promise<StagedBlob> {
    const body = await this.open(url);
    let staged: StagedBlob;
    try {
      staged = await this.d.store.stage(fromVendor(body, url), { maxBytes: entry.size });
    } catch (err) {
      body.destroy();
      if (isSluiceError(err, 'PAYLOAD_TOO_LARGE')) throw new SluiceError('FEED_HASH_MISMATCH', `${url}: more than the ${entry.size} bytes the signed Release lists for ${entry.path}; stopped reading there; nothing from it was used`);
      throw err;
    }
    if (staged.size !== entry.size || staged.sha256 !== entry.sha256) {
      await this.d.store.discard(staged);
      throw new SluiceError('FEED_HASH_MISMATCH', `${url}: ${staged.size} bytes with sha256 ${staged.sha256.slice(0, 16)}…, the signed Release lists ${entry.path} as ${entry.size} bytes with ${entry.sha256.slice(0, 16)}…; nothing from it was used`);
    }
    return staged;
  }

  private async open(url: string): Promise<Readable> {
    let res;
    try {
      res = await request(url, { dispatcher: this.d.dispatcher, headersTimeout: 60_000, bodyTimeout: 60_000 });
    } catch (err) {
      throw new SluiceError('FEED_UNREACHABLE', `${url}: ${(err as Error).message}`, { cause: err });
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw new SluiceError('FEED_UNREACHABLE', `${url}: HTTP ${res.statusCode}`);
    }
    return res.body as unknown as Readable;
  }

  /** A whole small file; undefined for a 404 when `optional`. */
  private async fetch(url: string, maxBytes: number, optional = false): Promise<Buffer | undefined> {
    let res;
    try {
      res = await request(url, { dispatcher: this.d.dispatcher, headersTimeout: 60_000, bodyTimeout: 60_000 });
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
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new SluiceError('FEED_TOO_LARGE', `${url}: larger than the ${maxBytes} bytes Sluice reads of it (a repository's is a few hundred KiB); stopped reading there; nothing was added`);
      }
      parts.push(chunk as Buffer);
    }
    return Buffer.concat(parts);
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
