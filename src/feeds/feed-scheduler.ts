import type { Dispatcher } from 'undici';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Feed } from '../topology/types.js';
import { AptFeedSync } from './apt-feed-sync.js';
import type { FeedSyncResult } from './feed-sync.js';
import { RpmFeedSync } from './rpm-feed-sync.js';
import type { FeedState, FeedSyncOutcome } from './feed-state.js';

/** The codes a feed sync fails with (errors.ts), each counted from zero. */
const FEED_FAILURE_CODES = ['FEED_KEYRING', 'FEED_UNREACHABLE', 'FEED_SIGNATURE', 'FEED_STALE', 'FEED_ROLLBACK', 'FEED_HASH_MISMATCH', 'FEED_MALFORMED', 'FEED_TOO_LARGE', 'FEED_CONFLICT'] as const;

/** A feed as `GET /v1/feeds` and `sluice feeds` show it. */
export interface FeedView extends Pick<Feed, 'name' | 'type' | 'url' | 'suites' | 'components' | 'architectures' | 'severity' | 'download'> {
  readonly packages: readonly string[] | null;
  /** An RPM feed's repositories (name → path under url; '' for the url itself); null for APT. */
  readonly repos: Readonly<Record<string, string>> | null;
  readonly requireSignedMetadata: boolean;
  readonly everySeconds: number;
  readonly maxAgeSeconds: number;
  /** Packages of the catalog that came from this feed. */
  readonly catalogued: number;
  readonly syncing: boolean;
  readonly lastSuccess: string | null;
  readonly last: FeedSyncOutcome | null;
}

/**
 * Runs every feed of the topology on the primary: a sync at start, then every `every`, one at
 * a time per feed (a sync asked for while one runs gets that one's result). Outcomes are
 * logged when they change (failing → healthy and back), counted, and kept for `sluice feeds`.
 */
export class FeedScheduler {
  private readonly syncs = new Map<string, AptFeedSync | RpmFeedSync>();
  private readonly running = new Map<string, Promise<FeedSyncResult>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failing = new Map<string, string>();
  /** Feeds synced successfully since the start. */
  private readonly succeeded = new Set<string>();
  private closed = false;

  constructor(
    feeds: ReadonlyMap<string, Feed>,
    private readonly d: { readonly catalog: CatalogLog; readonly writer: CatalogWriter; readonly state: FeedState; readonly store: BlobStore; readonly metrics: Metrics; readonly log: Logger; readonly dispatcher?: Dispatcher },
  ) {
    for (const feed of feeds.values()) {
      this.syncs.set(feed.name, feed.type === 'rpm' ? new RpmFeedSync(feed, d) : new AptFeedSync(feed, d));
      // Present from the start, so alert expressions have a series before anything fails.
      d.metrics.feedInterval.set({ feed: feed.name }, feed.everyMs / 1000);
      for (const code of FEED_FAILURE_CODES) d.metrics.feedSyncFailures.inc({ feed: feed.name, code }, 0);
    }
  }

  start(): void {
    void this.restoreLastSuccess();
    for (const name of this.syncs.keys()) this.schedule(name, 0);
  }

  /**
   * The last success of each feed as stored, so the gauge (and the alert on a feed not
   * synced for two intervals) carries over a restart: a primary that restarts while a
   * vendor's mirror keeps failing still shows how long ago the feed last synced.
   */
  private async restoreLastSuccess(): Promise<void> {
    for (const name of this.syncs.keys()) {
      const { lastSuccess } = await this.d.state.outcome(name).catch(() => ({ lastSuccess: undefined }));
      // A sync that succeeded meanwhile set a newer one.
      if (lastSuccess && !this.succeeded.has(name)) this.d.metrics.feedLastSuccess.set({ feed: name }, Date.parse(lastSuccess) / 1000);
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Syncs one feed now (or joins the sync under way); throws FEED_NOT_FOUND for an unknown name. */
  syncNow(name: string): Promise<FeedSyncResult> {
    const sync = this.syncs.get(name);
    if (!sync) throw new SluiceError('FEED_NOT_FOUND', `no feed "${name}" in the topology; feeds: ${[...this.syncs.keys()].join(', ') || 'none'}`);
    let run = this.running.get(name);
    if (!run) {
      run = this.run(sync).finally(() => this.running.delete(name));
      this.running.set(name, run);
    }
    return run;
  }

  get names(): readonly string[] {
    return [...this.syncs.keys()];
  }

  async list(): Promise<FeedView[]> {
    const counts = new Map<string, number>();
    for (const pkg of this.d.catalog.state.all()) if (pkg.feedName !== undefined) counts.set(pkg.feedName, (counts.get(pkg.feedName) ?? 0) + 1);
    return Promise.all(
      [...this.syncs.values()].map(async ({ feed }) => {
        const { last, lastSuccess } = await this.d.state.outcome(feed.name);
        return {
          name: feed.name,
          type: feed.type,
          url: feed.url,
          suites: feed.suites,
          components: feed.components,
          architectures: feed.architectures,
          packages: feed.packages ? [...feed.packages] : null,
          repos: feed.type === 'rpm' ? Object.fromEntries(feed.repos) : null,
          requireSignedMetadata: feed.requireSignedMetadata,
          everySeconds: Math.round(feed.everyMs / 1000),
          maxAgeSeconds: Math.round(feed.maxAgeMs / 1000),
          severity: feed.severity,
          download: feed.download,
          catalogued: counts.get(feed.name) ?? 0,
          syncing: this.running.has(feed.name),
          lastSuccess: lastSuccess ?? null,
          last: last ?? null,
        };
      }),
    );
  }

  private schedule(name: string, delayMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.syncNow(name)
        .catch(() => undefined)
        .finally(() => this.schedule(name, this.syncs.get(name)!.feed.everyMs));
    }, delayMs);
    timer.unref();
    this.timers.set(name, timer);
  }

  private async run(sync: AptFeedSync | RpmFeedSync): Promise<FeedSyncResult> {
    const name = sync.feed.name;
    const m = this.d.metrics;
    try {
      const result = await sync.sync();
      m.feedLastSuccess.set({ feed: name }, Date.parse(result.at) / 1000);
      this.succeeded.add(name);
      m.feedPackagesAdded.inc({ feed: name }, result.added);
      if (result.validUntil) m.feedValidUntil.set({ feed: name }, Date.parse(result.validUntil) / 1000);
      if (this.failing.delete(name)) this.d.log.info({ feed: name }, `feed ${name} syncs again`);
      if (result.added) this.d.log.info({ feed: name, added: result.added, listed: result.listed }, `feed ${name}: ${result.added} new package version(s), state new (approve to replicate)`);
      return result;
    } catch (err) {
      const e = err as SluiceError;
      m.feedSyncFailures.inc({ feed: name, code: e.code ?? 'INTERNAL' });
      if (this.failing.get(name) !== e.code) this.d.log.error({ feed: name, code: e.code }, `feed ${name} sync failed: ${e.message}`);
      this.failing.set(name, e.code);
      throw err;
    }
  }
}
