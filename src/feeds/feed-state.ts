import { sublevels, syncBatch, type MetaDb, type Sublevel } from '../store/meta-db.js';
import type { Advisory } from './updateinfo.js';

/**
 * An advisory as the primary keeps it: the vendor's fields, and the catalog packages it names
 * (per package id, the architectures the feed follows and the source rpm), from every feed and
 * repository that listed it.
 */
export interface StoredAdvisory extends Omit<Advisory, 'packages'> {
  readonly feed: string;
  readonly packages: readonly { readonly id: string; readonly arch: string; readonly src: string | undefined }[];
}

/** An RPM file whose signature verified: the package its signed header names, and the key that signed it. */
export interface VerifiedRpmFile {
  readonly name: string;
  /** `[epoch:]version-release`, as a catalog id writes it. */
  readonly version: string;
  readonly arch: string;
  readonly signer: string;
}

/** The outcome of a feed's last sync, as `sluice feeds` and `GET /v1/feeds` show it. */
export interface FeedSyncOutcome {
  readonly at: string;
  /** How long the sync took, ms. */
  readonly durationMs: number;
  readonly ok: boolean;
  /** Packages (name@version) it added to the catalog. */
  readonly added: number;
  /** Packages the signed indexes listed (after the feed's `packages` filter). */
  readonly listed: number;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** The soonest `Valid-Until` among its suites, when any sets one. */
  readonly validUntil: string | null;
}

interface SuiteState {
  readonly dateMs: number;
}

/**
 * What the primary remembers per feed, in its LevelDB: the signed `Date` of the last Release
 * accepted per suite (a Release older than that is a replayed snapshot: refused), the last
 * success and the last outcome. Written with the records a sync adds is not possible (they go
 * through the catalog writer), so the dates are written after the records: a crash between
 * the two re-adds nothing (existing ids are skipped) and accepts the same Release again.
 */
export class FeedState {
  private readonly db: Sublevel;

  constructor(private readonly root: MetaDb) {
    this.db = sublevels(root).feeds;
  }

  async lastDateMs(feed: string, suite: string): Promise<number | undefined> {
    const v = (await this.db.get(`date\u0000${feed}\u0000${suite}`)) as SuiteState | undefined;
    return typeof v?.dateMs === 'number' ? v.dateMs : undefined;
  }

  async accept(feed: string, dates: ReadonlyMap<string, number>, outcome: FeedSyncOutcome, signedRepos: readonly string[] = []): Promise<void> {
    await syncBatch(this.root, [
      ...[...dates].map(([suite, dateMs]) => ({ type: 'put' as const, sublevel: this.db, key: `date\u0000${feed}\u0000${suite}`, value: { dateMs } satisfies SuiteState })),
      ...signedRepos.map((repo) => ({ type: 'put' as const, sublevel: this.db, key: `signed\u0000${feed}\u0000${repo}`, value: true })),
      { type: 'put' as const, sublevel: this.db, key: `outcome\u0000${feed}`, value: outcome },
      { type: 'put' as const, sublevel: this.db, key: `success\u0000${feed}`, value: outcome.at },
    ]);
  }

  /** The suites' signed dates of a sync that verified but failed afterwards (so an older Release stays refused). */
  async acceptDates(feed: string, dates: ReadonlyMap<string, number>, signedRepos: readonly string[] = []): Promise<void> {
    await syncBatch(this.root, [
      ...[...dates].map(([suite, dateMs]) => ({ type: 'put' as const, sublevel: this.db, key: `date\u0000${feed}\u0000${suite}`, value: { dateMs } satisfies SuiteState })),
      ...signedRepos.map((repo) => ({ type: 'put' as const, sublevel: this.db, key: `signed\u0000${feed}\u0000${repo}`, value: true })),
    ]);
  }

  async failed(feed: string, outcome: FeedSyncOutcome): Promise<void> {
    await syncBatch(this.root, [{ type: 'put' as const, sublevel: this.db, key: `outcome\u0000${feed}`, value: outcome }]);
  }

  /**
   * The vendor's paragraph of each new package file (`id` and architecture): a ring's APT
   * index repeats it (dependencies, description, maintainer) with its own Filename. Written
   * before the records that name the packages, so no catalogued feed file lacks one.
   */
  async saveStanzas(stanzas: readonly { id: string; arch: string; text: string }[]): Promise<void> {
    await syncBatch(this.root, stanzas.map((s) => ({ type: 'put' as const, sublevel: this.db, key: `stanza\u0000${s.id}\u0000${s.arch}`, value: s.text })));
  }

  /**
   * Where the vendor lists each new package (`SUITE/COMPONENT`, one or more): a ring's APT
   * repository has one index per vendor suite, components as the vendor names them.
   */
  async savePlaces(places: readonly { id: string; places: readonly string[] }[]): Promise<void> {
    for (let i = 0; i < places.length; i += 5000) {
      await syncBatch(this.root, places.slice(i, i + 5000).map((p) => ({ type: 'put' as const, sublevel: this.db, key: `place\u0000${p.id}`, value: p.places })));
    }
  }

  /** Where the vendor lists a package; undefined for one catalogued before Sluice kept it. */
  async places(id: string): Promise<readonly string[] | undefined> {
    const v = (await this.db.get(`place\u0000${id}`)) as unknown;
    return Array.isArray(v) && v.every((p) => typeof p === 'string') ? (v as string[]) : undefined;
  }

  async stanza(id: string, arch: string): Promise<string | undefined> {
    return (await this.db.get(`stanza\u0000${id}\u0000${arch}`)) as string | undefined;
  }

  /**
   * Whether an RPM repository's repomd.xml was once accepted with a signature (repomd.xml.asc):
   * from then on one without is refused, so a mirror cannot strip the signature to slip in
   * metadata the vendor never signed.
   */
  async wasSigned(feed: string, repo: string): Promise<boolean> {
    return (await this.db.get(`signed\u0000${feed}\u0000${repo}`)) === true;
  }

  /**
   * Advisories of a sync, each under its id and its feed, their packages added to any the
   * primary kept for that id and feed before (another repository of the feed may list the same
   * advisory), and each package's advisories beside it (what `sluice approve --advisory` and a
   * ring's updateinfo.xml read). Kept per feed: an advisory id is the vendor's word, and another
   * feed's mirror listing the same id never changes this feed's words or packages.
   */
  async saveAdvisories(advisories: readonly StoredAdvisory[]): Promise<void> {
    for (let i = 0; i < advisories.length; i += 1000) {
      const ops: Parameters<typeof syncBatch>[1][number][] = [];
      const links = new Map<string, Set<string>>();
      for (const a of advisories.slice(i, i + 1000)) {
        const before = await this.advisory(a.id, a.feed);
        const seen = new Set(a.packages.map((p) => `${p.id}\u0000${p.arch}`));
        const packages = [...a.packages, ...(before?.packages ?? []).filter((p) => !seen.has(`${p.id}\u0000${p.arch}`))];
        ops.push({ type: 'put', sublevel: this.db, key: advisoryKey(a.id, a.feed), value: { ...a, packages } satisfies StoredAdvisory });
        for (const p of packages) {
          const set = links.get(p.id) ?? new Set((await this.advisoriesOf(p.id)) ?? []);
          set.add(a.id);
          links.set(p.id, set);
        }
      }
      for (const [id, set] of links) ops.push({ type: 'put', sublevel: this.db, key: `advisories-of\u0000${id}`, value: [...set] });
      await syncBatch(this.root, ops);
    }
  }

  /** Advisory `id` as feed `feed` listed it. */
  async advisory(id: string, feed: string): Promise<StoredAdvisory | undefined> {
    return validAdvisory(await this.db.get(advisoryKey(id, feed)));
  }

  /** Advisory `id` as each feed that listed it did, in feed order. */
  async advisoriesById(id: string): Promise<StoredAdvisory[]> {
    const out: StoredAdvisory[] = [];
    for await (const [, v] of this.db.iterator({ gt: advisoryKey(id, ''), lt: advisoryKey(id, '\uffff') }) as AsyncIterable<[string, unknown]>) {
      const a = validAdvisory(v);
      if (a) out.push(a);
    }
    return out;
  }

  /** The catalog ids of the packages an advisory names (each once, every feed's), or undefined for one no feed listed. */
  async packagesOf(id: string): Promise<readonly string[] | undefined> {
    const list = await this.advisoriesById(id);
    return list.length ? [...new Set(list.flatMap((a) => a.packages.map((p) => p.id)))] : undefined;
  }

  /** The advisories that name a package (ids), or undefined when none does. */
  async advisoriesOf(id: string): Promise<readonly string[] | undefined> {
    const v = (await this.db.get(`advisories-of\u0000${id}`)) as unknown;
    return Array.isArray(v) && v.every((a) => typeof a === 'string') ? (v as string[]) : undefined;
  }

  /**
   * A package file's repodata entries, made once from its verified header (the file named by
   * its sha256 never changes) and reused by every ring's repository that lists it.
   */
  async rpmMetadata(sha256: string): Promise<{ primary: string; filelists: string; other: string } | undefined> {
    const v = (await this.db.get(`rpmmeta\u0000${sha256}`)) as { primary?: unknown; filelists?: unknown; other?: unknown } | undefined;
    return v && typeof v.primary === 'string' && typeof v.filelists === 'string' && typeof v.other === 'string' ? { primary: v.primary, filelists: v.filelists, other: v.other } : undefined;
  }

  async saveRpmMetadata(sha256: string, meta: { primary: string; filelists: string; other: string }): Promise<void> {
    await this.db.put(`rpmmeta\u0000${sha256}`, meta);
  }

  /**
   * What an RPM file's signed header says it is, kept once its signature verified against
   * feed `feed`'s keyring (the file named by its sha256 never changes): a listing of the file
   * is compared with it without reading the file again.
   */
  async rpmVerified(sha256: string, feed: string): Promise<VerifiedRpmFile | undefined> {
    const v = (await this.db.get(`rpmverified\u0000${sha256}\u0000${feed}`)) as Partial<VerifiedRpmFile> | undefined;
    return v && typeof v.name === 'string' && typeof v.version === 'string' && typeof v.arch === 'string' && typeof v.signer === 'string' ? { name: v.name, version: v.version, arch: v.arch, signer: v.signer } : undefined;
  }

  async saveRpmVerified(sha256: string, feed: string, v: VerifiedRpmFile): Promise<void> {
    await this.db.put(`rpmverified\u0000${sha256}\u0000${feed}`, v);
  }

  async outcome(feed: string): Promise<{ last: FeedSyncOutcome | undefined; lastSuccess: string | undefined }> {
    const [last, lastSuccess] = await Promise.all([this.db.get(`outcome\u0000${feed}`), this.db.get(`success\u0000${feed}`)]);
    return { last: last as FeedSyncOutcome | undefined, lastSuccess: lastSuccess as string | undefined };
  }
}

/** Where an advisory is kept: by id, then feed (the feeds that list one id read together). */
const advisoryKey = (id: string, feed: string) => `advisory\u0000${id}\u0000${feed}`;

function validAdvisory(v: unknown): StoredAdvisory | undefined {
  const a = v as StoredAdvisory | undefined;
  return a && typeof a.id === 'string' && typeof a.feed === 'string' && Array.isArray(a.packages) ? a : undefined;
}
