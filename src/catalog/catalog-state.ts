
import type { Severity } from '../domain/severity.js';
import { RING_ALL, type CatalogRecord, type FileEntry } from './records.js';

/** What a package looks like once every record about it has been applied. */
export interface PackageView {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly severity: Severity;
  readonly classification: string | undefined;
  readonly files: readonly FileEntry[];
  /** A vendor feed's package: the feed and each file's path in its repository. */
  readonly feed: { readonly name: string; readonly paths: readonly string[] } | undefined;
  readonly published: Decision;
  /** Ring → the approval; cleared by a decline. */
  readonly approvals: ReadonlyMap<string, Decision>;
  readonly declined: Decision | undefined;
  readonly supersededBy: string | undefined;
  readonly supersedes: string | undefined;
  /**
   * Rings whose approval a person withdrew (and nobody gave back since): a promotion gate
   * never re-approves the package there; only a person can.
   */
  readonly withdrawnFrom: ReadonlySet<string>;
  /** The feed's name alone (no allocation): what walks over the whole catalog ask. */
  readonly feedName: string | undefined;
  /** A feed package's source package and version (itself when the vendor names none); undefined for packages published by people. */
  readonly source: { readonly name: string; readonly version: string } | undefined;
}

export interface Decision {
  readonly by: string;
  readonly at: string;
  readonly seq: number;
}

export type PackageState = 'new' | 'approved' | 'declined' | 'superseded';

/**
 * The catalog folded into package views. Pure and in memory (metadata only, never blob
 * bytes); rebuilt from the log at start-up and updated as records are applied.
 */
/** A ring's signed APT index (records.ts `apt-index`). */
export interface AptIndexView {
  readonly ring: string;
  readonly suite: string;
  readonly seq: number;
  readonly at: string;
  readonly files: readonly { readonly path: string; readonly size: number; readonly sha256: string }[];
}

/** A ring's signed dnf repository of one vendor RPM repository (records.ts `rpm-index`). */
export interface RpmIndexView {
  readonly ring: string;
  readonly repo: string;
  readonly seq: number;
  readonly at: string;
  readonly files: readonly { readonly path: string; readonly size: number; readonly sha256: string }[];
}

/** APT (and dnf) indexes kept per ring: the newest, and older ones a node serves until it holds the newest. */
const APT_INDEXES_KEPT = 3;

/** A feed package's feed, its file paths rebuilt from the interned directories when read. */
class FeedRef {
  constructor(
    readonly name: string,
    private readonly files: readonly FileEntry[],
    private readonly dirs: string | readonly string[],
  ) {}

  get paths(): string[] {
    return this.files.map((f, i) => {
      const dir = typeof this.dirs === 'string' ? this.dirs : this.dirs[i]!;
      return dir === '' ? f.name : `${dir}/${f.name}`;
    });
  }
}

/** Rings of a package never withdrawn: one shared, empty set. */
const NO_RINGS: ReadonlySet<string> = new Set();

/** Approvals of a package never approved: one shared, empty map. */
const NO_APPROVALS: ReadonlyMap<string, Decision> = new Map();

/**
 * One package as the catalog holds it in memory. Compact, because a node holds every version
 * of every package a feed lists (the whole of Debian main: 63,000): name and version are read
 * from the id, a feed file's path from an interned directory and the file's name, repeated
 * strings (severity, classification, platform, who published, when a feed sync published) are
 * shared, and only approved packages have a map of approvals.
 */
class PackageEntry implements PackageView {
  approvalMap: Map<string, Decision> | undefined;
  withdrawnSet: Set<string> | undefined;
  declined: Decision | undefined;
  supersededBy: string | undefined;
  supersedes: string | undefined;

  constructor(
    readonly id: string,
    readonly severity: Severity,
    readonly classification: string | undefined,
    readonly files: readonly FileEntry[],
    readonly published: Decision,
    readonly feedName: string | undefined,
    /** Per file, the directory of its path in the vendor's repository (interned); one string for one file. */
    private readonly feedDirs: string | readonly string[] | undefined,
    /** The source's name when it is not the package's own (interned), and its version when it differs. */
    private readonly sourceName: string | undefined,
    private readonly sourceVersion: string | undefined,
  ) {}

  get source(): PackageView['source'] {
    if (this.feedName === undefined) return undefined;
    return { name: this.sourceName ?? this.name, version: this.sourceVersion ?? this.version };
  }

  get name(): string {
    return this.id.slice(0, this.id.lastIndexOf('@'));
  }

  get version(): string {
    return this.id.slice(this.id.lastIndexOf('@') + 1);
  }

  get approvals(): ReadonlyMap<string, Decision> {
    return this.approvalMap ?? NO_APPROVALS;
  }

  get withdrawnFrom(): ReadonlySet<string> {
    return this.withdrawnSet ?? NO_RINGS;
  }

  /** The feed and, built only when read, its paths (a walk asking only the feed's name builds none). */
  get feed(): PackageView['feed'] {
    return this.feedName === undefined ? undefined : new FeedRef(this.feedName, this.files, this.feedDirs!);
  }
}

/** A string of its own (not a slice holding its parent alive), for keys kept long. */
const flat = (s: string): string => (s.length < 13 ? s : JSON.parse(JSON.stringify(s)) as string);

/** Shares one copy of each repeated string (the same few values across 60,000 records). */
class Interner {
  private readonly pool = new Map<string, string>();

  get<T extends string | undefined>(s: T): T {
    if (s === undefined) return s;
    const had = this.pool.get(s);
    if (had !== undefined) return had as T;
    this.pool.set(s, s);
    return s;
  }
}

export class CatalogState {
  private readonly packages = new Map<string, PackageEntry>();
  private readonly aptIndexes = new Map<string, AptIndexView[]>();
  private readonly rpmIndexes = new Map<string, RpmIndexView[]>();
  /** Packages with an approval for some ring: what every question of "who receives what" starts from. */
  private readonly approvedIds = new Set<string>();
  private readonly strings = new Interner();
  private readonly feeds = new Set<string>();

  apply(record: CatalogRecord): void {
    const intern = <T extends string | undefined>(v: T) => this.strings.get(v);
    const decision = { by: intern(record.by), at: intern(record.at), seq: record.seq };
    if (record.type === 'publish') {
      const files = record.files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256, ...(f.platform !== undefined ? { platform: intern(f.platform) } : {}), ...(f.language !== undefined ? { language: intern(f.language) } : {}) }));
      // A vendor path whose last part is the file's name is kept as its (shared) directory.
      const dirs = record.feed?.paths.map((p, i) => {
        const name = files[i]?.name;
        return name !== undefined && p.endsWith(`/${name}`) ? intern(p.slice(0, -name.length - 1)) : p === name ? '' : undefined;
      });
      const feed = record.feed && dirs?.every((d) => d !== undefined) && dirs.length === files.length ? { name: intern(record.feed.name), dirs: dirs as string[] } : undefined;
      const entry = new PackageEntry(record.id, intern(record.severity), intern(record.classification), files, decision, feed?.name ?? (record.feed ? intern(record.feed.name) : undefined), feed?.dirs.length === 1 ? feed.dirs[0] : feed?.dirs, intern(record.source?.name), intern(record.source?.version));
      // A path that is not DIR/NAME (never written by Sluice's feeds) keeps its full form.
      if (record.feed && !feed) Object.defineProperty(entry, 'feed', { value: { name: record.feed.name, paths: record.feed.paths } });
      if (record.feed) this.feeds.add(intern(record.feed.name));
      if (record.feed && this.sourceIndex) this.indexSource(entry);
      if (this.nameIndex) this.indexName(entry);
      this.packages.set(record.id, entry);
      return;
    }
    // Roots concern trust, not packages: the log and the verifier apply them.
    if (record.type === 'root') return;
    if (record.type === 'apt-index') {
      const key = `${record.ring}\u0000${record.suite}`;
      const list = [{ ring: record.ring, suite: record.suite, seq: record.seq, at: record.at, files: record.files }, ...(this.aptIndexes.get(key) ?? [])];
      this.aptIndexes.set(key, list.slice(0, APT_INDEXES_KEPT));
      return;
    }
    if (record.type === 'rpm-index') {
      const key = `${record.ring}\u0000${record.repo}`;
      const list = [{ ring: record.ring, repo: record.repo, seq: record.seq, at: record.at, files: record.files }, ...(this.rpmIndexes.get(key) ?? [])];
      this.rpmIndexes.set(key, list.slice(0, APT_INDEXES_KEPT));
      return;
    }
    const pkg = this.packages.get(record.id);
    // The writer never emits a decision for an unknown package; a verified log cannot either.
    if (!pkg) return;
    switch (record.type) {
      case 'approve':
        pkg.declined = undefined;
        (pkg.approvalMap ??= new Map()).set(intern(record.ring), decision);
        if (pkg.withdrawnSet?.delete(record.ring) && pkg.withdrawnSet.size === 0) pkg.withdrawnSet = undefined;
        this.approvedIds.add(pkg.id);
        break;
      case 'decline':
        pkg.declined = decision;
        pkg.approvalMap = undefined;
        this.approvedIds.delete(pkg.id);
        break;
      case 'withdraw':
        pkg.approvalMap?.delete(record.ring);
        (pkg.withdrawnSet ??= new Set()).add(intern(record.ring));
        if (!pkg.approvalMap?.size) {
          pkg.approvalMap = undefined;
          this.approvedIds.delete(pkg.id);
        }
        break;
      case 'supersede': {
        const successor = this.packages.get(record.supersededBy);
        // The successor's own id string: one copy per id.
        pkg.supersededBy = successor?.id ?? record.supersededBy;
        if (successor) successor.supersedes = pkg.id;
        break;
      }
    }
  }

  /** Package name → its versions' ids. Built when first asked (the primary's dependency checks). */
  private nameIndex: Map<string, string[]> | undefined;

  /** Every version of a package name the catalog holds. */
  byName(name: string): PackageView[] {
    if (!this.nameIndex) {
      this.nameIndex = new Map();
      for (const pkg of this.packages.values()) this.indexName(pkg);
    }
    return (this.nameIndex.get(name) ?? []).map((id) => this.packages.get(id)!);
  }

  private indexName(pkg: PackageView): void {
    const key = flat(pkg.name);
    const list = this.nameIndex!.get(key);
    if (list) list.push(pkg.id);
    else this.nameIndex!.set(key, [pkg.id]);
  }

  /** Source `name@version` → the feed packages built from it. Built when first asked (the primary). */
  private sourceIndex: Map<string, string[]> | undefined;

  private indexSource(pkg: PackageView): void {
    const s = pkg.source!;
    const key = flat(`${s.name}@${s.version}`);
    const list = this.sourceIndex!.get(key);
    if (list) list.push(pkg.id);
    else this.sourceIndex!.set(key, [pkg.id]);
  }

  /** The feed packages built from source `name` at `version` (every binary, every architecture's file). */
  fromSource(name: string, version: string): PackageView[] {
    if (!this.sourceIndex) {
      this.sourceIndex = new Map();
      for (const pkg of this.packages.values()) if (pkg.feed) this.indexSource(pkg);
    }
    return (this.sourceIndex.get(`${name}@${version}`) ?? []).map((id) => this.packages.get(id)!);
  }

  /** Packages approved for some ring (declined ones are not): the only ones any ring can receive. */
  *approved(): IterableIterator<PackageView> {
    for (const id of this.approvedIds) yield this.packages.get(id)!;
  }

  /**
   * A ring's APT indexes of one suite, newest first (at most APT_INDEXES_KEPT); without a
   * suite, those of every suite of the ring, newest first.
   */
  aptIndexesOf(ring: string, suite?: string): readonly AptIndexView[] {
    if (suite !== undefined) return this.aptIndexes.get(`${ring}\u0000${suite}`) ?? [];
    const out: AptIndexView[] = [];
    for (const [key, list] of this.aptIndexes) if (key.slice(0, key.indexOf('\u0000')) === ring) out.push(...list);
    return out.sort((a, b) => b.seq - a.seq);
  }

  /** Rings that have an APT index. */
  aptRings(): IterableIterator<string> {
    return new Set([...this.aptIndexes.keys()].map((k) => k.slice(0, k.indexOf('\u0000')))).values();
  }

  /** Every (ring, suite) with an APT index. */
  aptSuites(): { ring: string; suite: string }[] {
    return [...this.aptIndexes.keys()].map((k) => ({ ring: k.slice(0, k.indexOf('\u0000')), suite: k.slice(k.indexOf('\u0000') + 1) }));
  }

  /** A ring's dnf indexes of one repository, newest first; without a repository, those of every repository of the ring. */
  rpmIndexesOf(ring: string, repo?: string): readonly RpmIndexView[] {
    if (repo !== undefined) return this.rpmIndexes.get(`${ring}\u0000${repo}`) ?? [];
    const out: RpmIndexView[] = [];
    for (const [key, list] of this.rpmIndexes) if (key.slice(0, key.indexOf('\u0000')) === ring) out.push(...list);
    return out.sort((a, b) => b.seq - a.seq);
  }

  /** Rings that have a dnf index. */
  rpmRings(): IterableIterator<string> {
    return new Set([...this.rpmIndexes.keys()].map((k) => k.slice(0, k.indexOf('\u0000')))).values();
  }

  /** Every (ring, repo) with a dnf index. */
  rpmRepos(): { ring: string; repo: string }[] {
    return [...this.rpmIndexes.keys()].map((k) => ({ ring: k.slice(0, k.indexOf('\u0000')), repo: k.slice(k.indexOf('\u0000') + 1) }));
  }

  get(id: string): PackageView | undefined {
    return this.packages.get(id);
  }

  all(): IterableIterator<PackageView> {
    return this.packages.values();
  }

  /** The feeds the catalog has packages of. */
  feedNames(): ReadonlySet<string> {
    return this.feeds;
  }

  /** How many packages have an approval: the work of every per-ring question. */
  get approvedCount(): number {
    return this.approvedIds.size;
  }

  get size(): number {
    return this.packages.size;
  }

  /**
   * A package's state over all rings, for listings: `declined` (nowhere); `approved` while some
   * ring it is approved for still receives it; `superseded` once every such ring has an
   * approved successor, or, never approved, once a successor is approved for `all` (no ring
   * could receive it any more); else `new`. Per ring, see `stateFor`.
   */
  stateOf(pkg: PackageView): PackageState {
    if (pkg.declined) return 'declined';
    if (pkg.approvals.size > 0) return [...pkg.approvals.keys()].some((ring) => this.supersededFor(pkg, ring) === undefined) ? 'approved' : 'superseded';
    return this.supersededFor(pkg, RING_ALL) === undefined ? 'new' : 'superseded';
  }

  /**
   * The package's state for machines of `ring` (`all`: machines of no ring): `approved` when
   * they receive it, `superseded` when a successor approved for the ring (or `all`) replaces
   * it there, `declined`, or `new` (not approved for the ring).
   */
  stateFor(pkg: PackageView, ring: string): PackageState {
    if (pkg.declined) return 'declined';
    if (this.supersededFor(pkg, ring) !== undefined) return 'superseded';
    return this.approvedFor(pkg, ring) ? 'approved' : 'new';
  }

  /** Approved for `ring` itself or for `all` (which every ring receives), and not declined. */
  approvedFor(pkg: PackageView, ring: string): boolean {
    return !pkg.declined && (pkg.approvals.has(ring) || pkg.approvals.has(RING_ALL));
  }

  /**
   * The successor that replaces the package for `ring`: the first package down its supersede
   * chain approved for that ring or for `all`. Never one approved only for another ring: a
   * ring changes only by an act on that ring (DESIGN: Rings).
   */
  supersededFor(pkg: PackageView, ring: string): string | undefined {
    let next = pkg.supersededBy;
    // A chain is acyclic by construction (a package is superseded once); the bound is a guard.
    for (let hops = 0; next !== undefined && hops < 100_000; hops++) {
      const successor = this.packages.get(next);
      if (!successor) return undefined;
      if (this.approvedFor(successor, ring)) return successor.id;
      next = successor.supersededBy;
    }
    return undefined;
  }

  /** Whether machines of `ring` receive the package now: approved for it (or all), not declined, not superseded there. */
  receivedBy(pkg: PackageView, ring: string): boolean {
    return this.approvedFor(pkg, ring) && this.supersededFor(pkg, ring) === undefined;
  }

  isApproved(pkg: PackageView | undefined): boolean {
    return pkg !== undefined && !pkg.declined && pkg.approvals.size > 0;
  }

  /**
   * When a package was first approved for `all` or one of `rings` (for any ring when
   * `rings` is undefined), ms since epoch: where deadlines and replication lag start.
   * Undefined when no such approval exists.
   */
  approvedAtMs(pkg: PackageView, rings?: readonly string[]): number | undefined {
    let first: number | undefined;
    for (const [ring, d] of pkg.approvals) {
      if (rings && ring !== RING_ALL && !rings.includes(ring)) continue;
      const at = Date.parse(d.at);
      if (first === undefined || at < first) first = at;
    }
    return first;
  }

  /**
   * Whether machines of any of `rings` receive the package (no rings: a node or endpoint of
   * no ring, which receives what `all` does).
   */
  isWantedBy(pkg: PackageView, rings: readonly string[]): boolean {
    if (rings.length === 0) return this.receivedBy(pkg, RING_ALL);
    return rings.some((r) => this.receivedBy(pkg, r));
  }
}
