import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { FileEntry, RecordBody } from '../catalog/records.js';
import { mostUrgent, type Severity } from '../domain/severity.js';
import { SluiceError } from '../errors.js';
import { collectGarbage } from '../log/heap.js';
import type { Feed } from '../topology/types.js';
import { VendorFiles } from './vendor-files.js';
import { APPEND_CHUNK, chunksByName } from './append-chunks.js';
import type { StoredAdvisory } from './feed-state.js';
import { FeedConflicts, recordFailure, recordSync, type FeedSyncDeps, type FeedSyncResult } from './feed-sync.js';
import { loadKeyring, verifyDetached, type Keyring } from './openpgp-signature.js';
import { parseSourceRpm, readPrimary, rpmVersionOf, type RpmEntry } from './primary-index.js';
import { MAX_REPOMD_BYTES, parseRepomd, type Repomd, type RepomdData } from './repomd.js';
import { compressionOf, type DecompressBounds } from './repodata-stream.js';
import { compareRpmVersions } from './rpm-version.js';
import { readUpdateinfo, severityOf, type Advisory } from './updateinfo.js';

/** Largest repomd.xml.asc a sync reads: a detached signature or two. */
const MAX_SIGNATURE_BYTES = 64 * 1024;
/** Largest metadata file (compressed or not) Sluice reads: Fedora's primary.xml is ~15 MB as zstd, ~100 MB open. */
export const MAX_REPODATA_BYTES = 512 * 1024 * 1024;
/** Without an open size, a file may decompress to this many times its size (and never beyond 1 MiB merely for being small). */
const MAX_RATIO = 50;
const RATIO_FLOOR_BYTES = 1024 * 1024;
/** Versions one sync may list, and new ones it may hold until it appends (each a few hundred bytes here). */
const MAX_LISTED_VERSIONS = 1_000_000;
/** Packages named by the advisories of one sync, all told (Fedora's updates repository: some 100,000). */
const MAX_ADVISORY_PACKAGES = 2_000_000;

/** A version the catalog lacks, as a sync keeps it until it is appended. */
interface NewVersion {
  readonly name: string;
  readonly version: string;
  /** The repository it is listed in first (its supersede chain). */
  readonly repo: string;
  readonly repos: Set<string>;
  readonly source: { name: string; version: string } | undefined;
  /** Per arch (`noarch` once), the file. */
  readonly files: Map<string, { href: string; size: number; sha256: string; arch: string }>;
}

/**
 * Follows a vendor's RPM repositories at the primary (dnf's repodata). A sync, for every
 * repository of the feed: fetch `repodata/repomd.xml` and its detached `repomd.xml.asc`,
 * verified against the feed's keyring (required with `requireSignedMetadata`, and once a
 * repository was seen signed); refuse a repomd.xml older than the last accepted (rollback) or,
 * by its newest timestamp, older than the feed's `maxAge`; fetch primary.xml and updateinfo.xml
 * by the checksum repomd.xml gives, spooled to a staging file and checked against its size and
 * sha256 before a byte is decompressed, then read as they decompress within bounds
 * (repodata-stream.ts). Each NEVRA of a followed architecture (and noarch) becomes a package
 * `name@[epoch:]version-release` in state `new`, one file per architecture, its source rpm
 * kept as its source; in each repository, versions of one name form a supersede chain in rpm
 * order. A package named by an advisory takes the advisory's severity (the most urgent of
 * them), others the feed's. Advisories are kept at the primary, where approvals take them as a
 * unit. Only when every repository verified does anything enter the catalog.
 */
export class RpmFeedSync {
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
      const signed: string[] = [];
      const found = new Map<string, NewVersion>();
      const listed = new Set<string>();
      const advisories: StoredAdvisory[] = [];
      const conflicts = new FeedConflicts(this.feed.name);
      let named = 0;
      for (const [repo, dir] of this.feed.repos) {
        const base = dir ? `${this.feed.url}/${dir}` : this.feed.url;
        const { repomd, wasSigned } = await this.repomd(repo, base, now());
        dates.set(repo, repomd.dateMs);
        if (wasSigned) signed.push(repo);
        const primary = repomd.data.get('primary')!;
        await this.readFile(base, primary, (source, bounds, where) =>
          readPrimary(source, bounds, where, (p) => {
            if (!this.follows(p)) return;
            const version = rpmVersionOf(p);
            const id = `${p.name}@${version}`;
            listed.add(id);
            if (listed.size > MAX_LISTED_VERSIONS) throw new SluiceError('FEED_TOO_LARGE', `feed ${this.feed.name}: its repositories list more than ${MAX_LISTED_VERSIONS} versions; follow fewer (the feed's packages or architectures); nothing was added`);
            const known = this.d.catalog.state.get(id);
            if (known) {
              conflicts.note(id, known, p.sha256);
              return;
            }
            const v = found.get(id) ?? { name: p.name, version, repo, repos: new Set<string>(), source: p.sourceRpm ? parseSourceRpm(p.sourceRpm) : undefined, files: new Map() };
            v.repos.add(repo);
            if (!v.files.has(p.arch)) v.files.set(p.arch, { href: dir ? `${dir}/${p.href}` : p.href, size: p.size, sha256: p.sha256, arch: p.arch });
            found.set(id, v);
          }),
        );
        const updateinfo = repomd.data.get('updateinfo');
        if (updateinfo)
          await this.readFile(base, updateinfo, (source, bounds, where) =>
            readUpdateinfo(source, bounds, where, (a) => {
              const kept = this.stored(a);
              named += kept.packages.length;
              if (named > MAX_ADVISORY_PACKAGES) throw new SluiceError('FEED_TOO_LARGE', `${where}: its advisories name more than ${MAX_ADVISORY_PACKAGES} packages of the feed's architectures; nothing was added`);
              advisories.push(kept);
            }),
          );
      }
      // Advisories first, so a package is never catalogued before the advisory that names it is kept.
      const severities = new Map<string, Severity>();
      for (const a of advisories) {
        const severity = severityOf(a.severity);
        if (severity) for (const p of a.packages) severities.set(p.id, mostUrgent(severities.get(p.id) ?? severity, severity));
      }
      // An advisory names this feed's packages only (listed now, or catalogued from it before):
      // a mirror's updateinfo.xml, unsigned where the vendor signs no repomd.xml, never adds
      // another vendor's packages to an approval of an advisory id both list.
      const ours = (id: string) => listed.has(id) || this.d.catalog.state.get(id)?.feedName === this.feed.name;
      await this.d.state.saveAdvisories(advisories.filter((a) => a.packages.some((p) => ours(p.id))).map((a) => ({ ...a, packages: a.packages.filter((p) => ours(p.id)) })));
      await this.d.state.savePlaces([...found].map(([id, v]) => ({ id, places: [...v.repos] })));
      const ids: string[] = [];
      for (const chunk of chunksByName(found, APPEND_CHUNK, compareRpmVersions)) {
        const tips = this.chainTips(chunk);
        const appended = await this.d.writer.append((log) => this.recordsFor(log, chunk, tips, severities, at));
        for (const r of appended) if (r.type === 'publish') ids.push(r.id);
        if (appended.length >= APPEND_CHUNK / 2) collectGarbage();
      }
      return await recordSync(run, { dates, signed, ids, listed: listed.size, conflicts, validUntil: null });
    } catch (err) {
      throw await recordFailure(run, err);
    }
  }

  /** A followed package: an architecture of the feed's (or noarch), never a source rpm, a name of `packages` when set. */
  private follows(p: RpmEntry): boolean {
    if (p.arch === 'src' || p.arch === 'nosrc') return false;
    if (p.arch !== 'noarch' && !this.feed.architectures.includes(p.arch)) return false;
    return !this.feed.packages || this.feed.packages.has(p.name);
  }

  /** An advisory with the catalog ids of the packages it names that the feed follows. */
  private stored(a: Advisory): StoredAdvisory {
    const { packages, ...rest } = a;
    const seen = new Set<string>();
    const out: StoredAdvisory['packages'][number][] = [];
    for (const p of packages) {
      if (!this.follows({ ...p, href: '', size: 0, sha256: '', sourceRpm: undefined })) continue;
      const id = `${p.name}@${rpmVersionOf(p)}`;
      if (seen.has(`${id}\u0000${p.arch}`)) continue;
      seen.add(`${id}\u0000${p.arch}`);
      out.push({ id, arch: p.arch, src: p.src });
    }
    return { ...rest, feed: this.feed.name, packages: out };
  }

  /**
   * Per repository and package name, the newest version of this feed already catalogued there
   * and not yet superseded: where the chunk's new versions attach. Chains are per repository,
   * since two repositories of one feed (an OS and its extras) never replace each other's.
   */
  private chainTips(chunk: readonly [string, NewVersion][]): Map<string, string> {
    const tips = new Map<string, { id: string; version: string }>();
    for (const name of new Set(chunk.map(([, v]) => v.name))) {
      for (const pkg of this.d.catalog.state.byName(name)) {
        if (pkg.feed?.name !== this.feed.name || pkg.supersededBy) continue;
        // The repository is the first directory of the file's path under the feed's url.
        const repo = this.repoOfPath(pkg.feed.paths[0] ?? '');
        const key = `${repo}\u0000${name}`;
        const had = tips.get(key);
        if (!had || compareRpmVersions(pkg.version, had.version) > 0) tips.set(key, { id: pkg.id, version: pkg.version });
      }
    }
    return new Map([...tips].map(([k, v]) => [k, v.id]));
  }

  /** The repository a vendor path lies in: the one whose path is the longest prefix of it. */
  private repoOfPath(path: string): string {
    let best: [string, number] | undefined;
    for (const [repo, dir] of this.feed.repos) {
      if (dir && !path.startsWith(`${dir}/`)) continue;
      if (!best || dir.length > best[1]) best = [repo, dir.length];
    }
    return best?.[0] ?? [...this.feed.repos.keys()][0]!;
  }

  /** New versions as publish records, and supersede records along each repository's chain, inside the writer's lock. */
  private recordsFor(log: CatalogLog, chunk: readonly [string, NewVersion][], tips: ReadonlyMap<string, string>, named: ReadonlyMap<string, Severity>, at: string): RecordBody[] {
    const by = `feed:${this.feed.name}`;
    const out: RecordBody[] = [];
    const fresh = chunk.filter(([id]) => !log.state.get(id));
    for (const [id, v] of fresh) {
      const list = [...v.files.values()].sort((a, b) => (a.arch < b.arch ? -1 : 1));
      const entries: FileEntry[] = list.map((f) => ({ name: f.href.slice(f.href.lastIndexOf('/') + 1), size: f.size, sha256: f.sha256, ...(f.arch === 'noarch' ? {} : { platform: f.arch }) }));
      // The source rpm's name and version (its file name carries no epoch); left out when it is the package itself.
      const source = v.source && !(v.source.name === v.name && v.source.version === v.version) ? { name: v.source.name, version: v.source.version } : undefined;
      out.push({ type: 'publish', id, severity: named.get(id) ?? this.feed.severity, files: entries, feed: { name: this.feed.name, paths: list.map((f) => f.href) }, ...(source ? { source } : {}), by, at });
    }
    const chains = new Map<string, { id: string; version: string; fresh: boolean }[]>();
    for (const [id, v] of fresh) {
      const key = `${v.repo}\u0000${v.name}`;
      let chain = chains.get(key);
      if (!chain) {
        const tip = tips.get(key);
        const tipPkg = tip === undefined ? undefined : log.state.get(tip);
        chains.set(key, (chain = tipPkg && !tipPkg.supersededBy ? [{ id: tipPkg.id, version: tipPkg.version, fresh: false }] : []));
      }
      chain.push({ id, version: v.version, fresh: true });
    }
    for (const chain of chains.values()) {
      chain.sort((x, y) => compareRpmVersions(x.version, y.version));
      for (let i = 0; i + 1 < chain.length; i++) if (chain[i + 1]!.fresh) out.push({ type: 'supersede', id: chain[i]!.id, supersededBy: chain[i + 1]!.id, by, at });
    }
    return out;
  }

  /** The repository's repomd.xml, its signature checked as the feed requires, and checked against rollback and age. */
  private async repomd(repo: string, base: string, nowMs: number): Promise<{ repomd: Repomd; wasSigned: boolean }> {
    const url = `${base}/repodata/repomd.xml`;
    const bytes = (await this.files.fetch(url, MAX_REPOMD_BYTES))!;
    const signature = await this.files.fetch(`${url}.asc`, MAX_SIGNATURE_BYTES, true);
    if (signature) await verifyDetached(bytes, signature, this.keyring!, nowMs).catch((err: unknown) => {
      throw new SluiceError('FEED_SIGNATURE', `${url}: ${(err as Error).message.replace(/^Release/, 'repomd.xml')}; nothing was added`);
    });
    else if (this.feed.requireSignedMetadata) throw new SluiceError('FEED_SIGNATURE', `${url}.asc: missing, and the feed requires signed metadata (requireSignedMetadata); nothing was added`);
    else if (await this.d.state.wasSigned(this.feed.name, repo)) throw new SluiceError('FEED_SIGNATURE', `${url}.asc: missing, though this repository's repomd.xml was signed before: a mirror may have stripped the signature; nothing was added`);
    const repomd = await parseRepomd(bytes, url);
    if (repomd.dateMs < nowMs - this.feed.maxAgeMs) throw new SluiceError('FEED_STALE', `${url}: its newest file is dated ${new Date(repomd.dateMs).toISOString()}, older than the feed's maxAge: a mirror may be frozen on an old snapshot; nothing was added. Use a mirror that is up to date; a repository that never changes after its release (Fedora's releases/) needs a longer maxAge, such as 36500d`);
    const last = await this.d.state.lastDateMs(this.feed.name, repo);
    if (last !== undefined && repomd.dateMs < last) throw new SluiceError('FEED_ROLLBACK', `${url}: its newest file is dated ${new Date(repomd.dateMs).toISOString()}, older than the repomd.xml accepted before (${new Date(last).toISOString()}); an old snapshot replayed; nothing was added`);
    return { repomd, wasSigned: signature !== undefined };
  }

  /** One metadata file, spooled and checked against repomd.xml before `read` decompresses and parses it. */
  private async readFile<T>(base: string, data: RepomdData, read: (source: Readable, bounds: DecompressBounds, where: string) => Promise<T>): Promise<T> {
    const url = `${base}/${data.href}`;
    const suffix = compressionOf(data.href);
    if (suffix === undefined) throw new SluiceError('FEED_MALFORMED', `${url}: compressed in a form Sluice does not read (it reads .gz, .xz, .zst and plain .xml); ask for createrepo_c's default (gzip or zstd)`);
    for (const size of [data.size, data.open?.size ?? 0]) {
      if (size > MAX_REPODATA_BYTES) throw new SluiceError('FEED_TOO_LARGE', `${url}: repomd.xml lists it as ${size} bytes, more than the ${MAX_REPODATA_BYTES} Sluice reads of one file; nothing was added`);
    }
    const staged = await this.files.spool(url, data, { by: 'repomd.xml' });
    try {
      const file = createReadStream(staged.tmpPath);
      try {
        const limit = data.open ? data.open.size : suffix ? Math.min(MAX_REPODATA_BYTES, Math.max(RATIO_FLOOR_BYTES, data.size * MAX_RATIO)) : data.size;
        return await read(file, { suffix, limit, ...(data.open && suffix ? { open: data.open } : {}) }, url);
      } finally {
        file.destroy();
      }
    } finally {
      await this.d.store.discard(staged);
    }
  }
}


