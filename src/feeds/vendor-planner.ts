import type { Dispatcher } from 'undici';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { PackageView } from '../catalog/catalog-state.js';
import { mostUrgent, type Severity } from '../domain/severity.js';
import type { Downloader } from '../download/downloader.js';
import { priorityOf } from '../download/priority.js';
import { transferStatuses } from '../download/transfer-status.js';
import { UrlSource } from '../download/url-source.js';
import { fileBytes } from '../download/bytes-from.js';
import type { BytesFrom, Want } from '../download/want.js';
import type { TransferStatus } from '../protocol/status.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Feed } from '../topology/types.js';
import type { ListedAs } from './vendor-file-check.js';

/** How often the plan is made again without a catalog change (a feed's `download` changed nothing else). */
const REPLAN_MS = 60_000;

/**
 * The vendor is the primary's upstream for feed packages: once a ring approves a version (or
 * at once for `download: all`), its files are wanted from the vendor's repository, most
 * urgent first (severity, then approval time), each from its feed's URL. The downloader
 * fetches them like any blob — resumable, verified against the sha256 of the signed catalog
 * record (which came from the vendor's signed index), relayed to a downstream node that asks
 * meanwhile — and replication carries on from there. Failures show in the primary's status
 * as transfers.
 */
export class VendorPlanner {
  private wanted = new Map<string, Want>();
  private running: Promise<void> | undefined;
  private readonly stop = new AbortController();

  constructor(
    private readonly parts: {
      readonly catalog: CatalogLog;
      readonly store: BlobStore;
      readonly feeds: ReadonlyMap<string, Feed>;
      readonly downloader: Downloader;
      /** The vendors' connection pool (HTTP(S)_PROXY and NO_PROXY apply). */
      readonly dispatcher?: Dispatcher;
      /** What a feed's file must pass beyond its sha256 before it is stored (an RPM feed's package signature: vendor-file-check.ts). */
      readonly checkFile?: (feed: string, sha256: string, bytes: BytesFrom, what: string, listedAs: readonly ListedAs[]) => Promise<void>;
    },
  ) {}

  /** Plans from the catalog held now, then again after every change. */
  start(): void {
    this.plan();
    this.running = this.loop();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  /** Vendor files still to fetch: bytes and count (the primary's "pending"). */
  pending(): { blobs: number; bytes: number } {
    let blobs = 0;
    let bytes = 0;
    for (const w of this.wanted.values()) {
      if (this.parts.store.has(w.sha256)) continue;
      blobs++;
      bytes += w.size - (this.parts.downloader.transfers.get(w.sha256)?.offset ?? 0);
    }
    return { blobs, bytes };
  }

  /** Packages with vendor files still to fetch, most urgent first (the primary's pending packages in its status). */
  pendingPackages(): string[] {
    const missing = [...this.wanted.values()].filter((w) => !this.parts.store.has(w.sha256)).sort((a, b) => b.priority - a.priority);
    return [...new Set(missing.flatMap((w) => w.packages))];
  }

  /**
   * Checks a file that enters the store other than from the vendor (a lost blob put back by
   * hand, PUT /v1/blobs) as the downloader checks the vendor's: for each feed whose packages
   * list `sha256`, what that feed's files must pass (an RPM feed's package signature, and
   * that its signed header is each listing's package). Without it a restore would store an
   * .rpm the primary refused, or never checked, and the ring's dnf repository would list it.
   */
  async checkHeld(sha256: string, path: string): Promise<void> {
    const check = this.parts.checkFile;
    if (!check) return;
    const byFeed = new Map<string, ListedAs[]>();
    for (const pkg of this.parts.catalog.state.all()) {
      if (pkg.feedName === undefined) continue;
      const file = pkg.files.find((f) => f.sha256 === sha256);
      if (!file) continue;
      const list = byFeed.get(pkg.feedName) ?? [];
      list.push({ id: pkg.id, name: pkg.name, version: pkg.version, arch: file.platform ?? 'noarch' });
      byFeed.set(pkg.feedName, list);
    }
    for (const [feed, listedAs] of byFeed) await check(feed, sha256, fileBytes(path), `blob ${sha256.slice(0, 12)}… put back (${listedAs.map((l) => l.id).join(', ')})`, listedAs);
  }

  /** What is being fetched or waits to be retried, in status order, as status transfers. */
  transfers(max = 100): TransferStatus[] {
    return transferStatuses(this.parts.downloader.transfers, max);
  }

  private async loop(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const seq = this.parts.catalog.seq;
      await this.parts.catalog.waitForRecords(seq, REPLAN_MS, signal);
      if (!signal.aborted) this.plan();
    }
  }

  /** Feed files the catalog wants here, each from its feed's URL; the downloader takes it from there. */
  private plan(): void {
    const out = new Map<string, { size: number; source: UrlSource; packages: string[]; severity: Severity; approvedAtMs: number }>();
    const state = this.parts.catalog.state;
    // Only approved packages are fetched, unless a feed downloads everything: walking the
    // approved index keeps a replan cheap at a whole archive's size.
    const all = [...this.parts.feeds.values()].some((f) => f.download === 'all');
    for (const pkg of all ? state.all() : state.approved()) {
      if (pkg.feedName === undefined || !this.shouldHold(pkg)) continue;
      const feed = this.parts.feeds.get(pkg.feedName);
      if (!feed) continue;
      const approvedAtMs = state.approvedAtMs(pkg) ?? Date.parse(pkg.published.at);
      pkg.files.forEach((f, i) => {
        const prev = out.get(f.sha256);
        if (prev) {
          prev.packages.push(pkg.id);
          prev.severity = mostUrgent(prev.severity, pkg.severity);
          prev.approvedAtMs = Math.min(prev.approvedAtMs, approvedAtMs);
        } else out.set(f.sha256, { size: f.size, source: this.sourceOf(feed.name, `${feed.url}/${pkg.feed!.paths[i]}`), packages: [pkg.id], severity: pkg.severity, approvedAtMs });
      });
    }
    this.wanted = new Map([...out].map(([sha256, w]) => [sha256, { sha256, size: w.size, priority: priorityOf(w), source: w.source, severity: w.severity, packages: w.packages }]));
    this.parts.downloader.want(this.wanted);
  }

  private sourceOf(feed: string, url: string): UrlSource {
    const check = this.parts.checkFile;
    return new UrlSource(`feed:${feed}`, url, this.parts.dispatcher, check ? (bytes, want) => check(feed, want.sha256, bytes, `${url} (${want.packages.join(', ')})`, this.listedAs(want)) : undefined);
  }

  /** What each package wanting the file says it is, read when the file is checked (the catalog's word, from the vendor's metadata). */
  private listedAs(want: Want): ListedAs[] {
    const out: ListedAs[] = [];
    for (const id of want.packages) {
      const pkg = this.parts.catalog.state.get(id);
      const file = pkg?.files.find((f) => f.sha256 === want.sha256);
      if (pkg && file) out.push({ id: pkg.id, name: pkg.name, version: pkg.version, arch: file.platform ?? 'noarch' });
    }
    return out;
  }

  private shouldHold(pkg: PackageView): boolean {
    const feed = this.parts.feeds.get(pkg.feedName!);
    const state = this.parts.catalog.state.stateOf(pkg);
    if (feed?.download === 'all') return state !== 'declined';
    return state === 'approved';
  }
}
