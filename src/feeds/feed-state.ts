import { sublevels, syncBatch, type MetaDb, type Sublevel } from '../store/meta-db.js';

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

  async accept(feed: string, dates: ReadonlyMap<string, number>, outcome: FeedSyncOutcome): Promise<void> {
    await syncBatch(this.root, [
      ...[...dates].map(([suite, dateMs]) => ({ type: 'put' as const, sublevel: this.db, key: `date\u0000${feed}\u0000${suite}`, value: { dateMs } satisfies SuiteState })),
      { type: 'put' as const, sublevel: this.db, key: `outcome\u0000${feed}`, value: outcome },
      { type: 'put' as const, sublevel: this.db, key: `success\u0000${feed}`, value: outcome.at },
    ]);
  }

  /** The suites' signed dates of a sync that verified but failed afterwards (so an older Release stays refused). */
  async acceptDates(feed: string, dates: ReadonlyMap<string, number>): Promise<void> {
    await syncBatch(this.root, [...dates].map(([suite, dateMs]) => ({ type: 'put' as const, sublevel: this.db, key: `date\u0000${feed}\u0000${suite}`, value: { dateMs } satisfies SuiteState })));
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

  async outcome(feed: string): Promise<{ last: FeedSyncOutcome | undefined; lastSuccess: string | undefined }> {
    const [last, lastSuccess] = await Promise.all([this.db.get(`outcome\u0000${feed}`), this.db.get(`success\u0000${feed}`)]);
    return { last: last as FeedSyncOutcome | undefined, lastSuccess: lastSuccess as string | undefined };
  }
}
