
import type { Severity } from '../domain/severity.js';
import { RING_ALL, parsePackageId, type CatalogRecord, type FileEntry } from './records.js';

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
  readonly approvals: Map<string, Decision>;
  declined: Decision | undefined;
  supersededBy: string | undefined;
  supersedes: string | undefined;
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

/** APT indexes kept per ring: the newest, and older ones a node serves until it holds the newest. */
const APT_INDEXES_KEPT = 3;

export class CatalogState {
  private readonly packages = new Map<string, PackageView>();
  private readonly aptIndexes = new Map<string, AptIndexView[]>();

  apply(record: CatalogRecord): void {
    const decision = { by: record.by, at: record.at, seq: record.seq };
    if (record.type === 'publish') {
      const { name, version } = parsePackageId(record.id)!;
      this.packages.set(record.id, {
        id: record.id,
        name,
        version,
        severity: record.severity,
        classification: record.classification,
        files: record.files,
        feed: record.feed,
        published: decision,
        approvals: new Map(),
        declined: undefined,
        supersededBy: undefined,
        supersedes: undefined,
      });
      return;
    }
    // Roots concern trust, not packages: the log and the verifier apply them.
    if (record.type === 'root') return;
    if (record.type === 'apt-index') {
      const list = [{ ring: record.ring, suite: record.suite, seq: record.seq, at: record.at, files: record.files }, ...(this.aptIndexes.get(record.ring) ?? [])];
      this.aptIndexes.set(record.ring, list.slice(0, APT_INDEXES_KEPT));
      return;
    }
    const pkg = this.packages.get(record.id);
    // The writer never emits a decision for an unknown package; a verified log cannot either.
    if (!pkg) return;
    switch (record.type) {
      case 'approve':
        pkg.declined = undefined;
        pkg.approvals.set(record.ring, decision);
        break;
      case 'decline':
        pkg.declined = decision;
        pkg.approvals.clear();
        break;
      case 'withdraw':
        pkg.approvals.delete(record.ring);
        break;
      case 'supersede': {
        pkg.supersededBy = record.supersededBy;
        const successor = this.packages.get(record.supersededBy);
        if (successor) successor.supersedes = record.id;
        break;
      }
    }
  }

  /** A ring's APT indexes, newest first (at most APT_INDEXES_KEPT). */
  aptIndexesOf(ring: string): readonly AptIndexView[] {
    return this.aptIndexes.get(ring) ?? [];
  }

  /** Rings that have an APT index. */
  aptRings(): IterableIterator<string> {
    return this.aptIndexes.keys();
  }

  get(id: string): PackageView | undefined {
    return this.packages.get(id);
  }

  all(): IterableIterator<PackageView> {
    return this.packages.values();
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
