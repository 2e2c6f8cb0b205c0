import type { Dispatcher } from 'undici';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { PackageView } from '../catalog/catalog-state.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import { SluiceError, toSluiceError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import type { FeedState, FeedSyncOutcome } from './feed-state.js';

/**
 * What every feed type's sync (APT, RPM) shares: what it is given, what it returns, the ids it
 * cannot add because the catalog holds them already, and how its outcome is recorded. One
 * place, so both types fail, conflict and succeed alike in `sluice feeds`.
 */
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

/** Conflicting versions named in one FEED_CONFLICT message, at most. */
const MAX_CONFLICTS = 20;

/**
 * Versions a feed lists whose id the catalog holds already with other files, from another feed
 * or published by a person. The catalog holds one package per id, so this vendor's version
 * cannot enter; it is said loudly (FEED_CONFLICT), never skipped in silence, which would
 * withhold this vendor's fix.
 */
export class FeedConflicts {
  private readonly found = new Map<string, string>();

  constructor(private readonly feed: string) {}

  /** Notes `id` unless the catalog's package is this feed's or has the listed file's bytes. */
  note(id: string, known: PackageView, sha256: string): void {
    if (known.feedName === this.feed || known.files.some((f) => f.sha256 === sha256) || this.found.size >= MAX_CONFLICTS) return;
    this.found.set(id, known.feedName === undefined ? 'published by a person' : `from feed ${known.feedName}`);
  }

  get size(): number {
    return this.found.size;
  }

  /** The error naming them, once the sync's other new versions (`added` of them) are in. */
  error(added: number): SluiceError {
    const list = [...this.found].map(([id, where]) => `${id} (${where})`).join(', ');
    return new SluiceError('FEED_CONFLICT', `feed ${this.feed}: ${this.found.size}${this.found.size >= MAX_CONFLICTS ? '+' : ''} version(s) it lists are in the catalog already with other files: ${list}; this feed's versions of them were not added (the ${added} other new version(s) were). Another feed, or a person's publish, took these ids first: remove that feed or package, or narrow the feeds with packages:`);
  }
}

/** One sync of one feed as it is recorded: when it started, and where its outcome goes. */
export interface SyncRun {
  readonly feed: string;
  readonly state: FeedState;
  /** ISO time the sync started. */
  readonly at: string;
  readonly now: () => number;
}

/** What a sync that verified everything leaves behind. */
export interface SyncEnd {
  /** Per suite or repository, its signed date, kept so an older one is refused next time. */
  readonly dates: ReadonlyMap<string, number>;
  /** Repositories whose metadata was signed (an RPM feed requires it of them from now on). */
  readonly signed?: readonly string[];
  readonly ids: readonly string[];
  readonly listed: number;
  readonly conflicts: FeedConflicts;
  readonly validUntil: string | null;
}

const durationOf = (run: SyncRun) => Math.round(run.now() - Date.parse(run.at));

/**
 * Records a verified sync. With conflicts the rest of the feed is in, its dates are kept, and
 * the sync still fails (recorded, thrown) every time until a person resolves them.
 */
export async function recordSync(run: SyncRun, end: SyncEnd): Promise<FeedSyncResult> {
  const outcome = (error: FeedSyncOutcome['error']): FeedSyncOutcome => ({ at: run.at, durationMs: durationOf(run), ok: error === null, added: end.ids.length, listed: end.listed, error, validUntil: end.validUntil });
  if (end.conflicts.size) {
    const conflict = end.conflicts.error(end.ids.length);
    await run.state.acceptDates(run.feed, end.dates, end.signed);
    await run.state.failed(run.feed, outcome({ code: conflict.code, message: conflict.message }));
    throw Object.assign(conflict, { recorded: true });
  }
  const done = outcome(null);
  await run.state.accept(run.feed, end.dates, done, end.signed);
  return { ...done, feed: run.feed, ids: end.ids };
}

/** A sync that failed before it verified everything: recorded as adding nothing, and the error to throw. */
export async function recordFailure(run: SyncRun, err: unknown): Promise<unknown> {
  if ((err as { recorded?: boolean }).recorded) return err;
  const e = toSluiceError(err, `feed ${run.feed}`, 'FEED_UNREACHABLE');
  const outcome: FeedSyncOutcome = { at: run.at, durationMs: durationOf(run), ok: false, added: 0, listed: 0, error: { code: e.code, message: e.message }, validUntil: null };
  await run.state.failed(run.feed, outcome).catch(() => undefined);
  return e;
}
