import type { Dispatcher } from 'undici';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { PackageView } from '../catalog/catalog-state.js';
import { mostUrgent, type Severity } from '../domain/severity.js';
import { toSluiceError, type SluiceError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { TransferStatus } from '../protocol/status.js';
import { UNLIMITED_BUDGET, type RateBudget } from '../schedule/rate-budget.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Feed } from '../topology/types.js';
import { TransferPaused, fetchBlob } from '../transfer/fetch-blob.js';
import { LiveRelays } from '../transfer/live-relays.js';
import { Arrival } from '../transfer/arrival.js';
import { LiveTransfer } from '../transfer/live-transfer.js';

/** One vendor file the primary should hold. */
interface VendorBlob {
  readonly sha256: string;
  readonly size: number;
  readonly url: string;
  readonly feed: string;
  readonly packages: string[];
  severity: Severity;
}

interface Attempt {
  offset: number;
  rateBytesPerSec: number;
  attempts: number;
  active: boolean;
  lastError: { code: string; message: string; at: string } | null;
  /** No new attempt before this (ms since epoch). */
  retryAt: number;
  /** Held by a closed window of the primary's schedule. */
  paused?: boolean;
}

/** How often a fetch held by a closed window looks again. */
const PAUSED_RECHECK_MS = 15_000;

/** Concurrent downloads from vendors. */
const CONCURRENCY = 2;

/**
 * The vendor is the primary's upstream for feed packages: once a ring approves a version (or
 * at once for `download: all`), its files are fetched from the vendor's repository — resumable
 * through the store's partial files, verified against the sha256 of the signed catalog record
 * (which came from the vendor's signed index) — and committed like any replicated blob, so
 * replication carries on from there. Failures are retried with backoff and shown in the
 * primary's status as transfers.
 */
export class VendorFetcher {
  private readonly attempts = new Map<string, Attempt>();
  /** Files arriving from a vendor now, relayed to a downstream node that asks meanwhile. */
  private readonly relays = new LiveRelays();
  private running: Promise<void> | undefined;
  private readonly stop = new AbortController();

  constructor(
    private readonly d: {
      readonly catalog: CatalogLog;
      readonly store: BlobStore;
      readonly feeds: ReadonlyMap<string, Feed>;
      readonly metrics: Metrics;
      readonly log: Logger;
      readonly dispatcher?: Dispatcher;
      readonly stallMs: number;
      readonly checkpointBytes: number;
      readonly checkpointMs: number;
      readonly backoffFloorMs: number;
      readonly backoffCapMs: number;
      /** The primary's own schedule (its region's windows): what vendor fetches may use now; critical packages take their lane. */
      readonly budget?: RateBudget;
      readonly criticalBudget?: RateBudget;
      /** What a file must pass beyond its sha256 before it is stored (an RPM feed's package signature). */
      readonly checkFile?: (feed: string, path: string, what: string) => Promise<void>;
    },
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  /**
   * The vendor file being fetched now, for a downstream node that asks for it meanwhile: it
   * is relayed as it lands (never completed with unverified bytes) rather than answered 404,
   * as a hub relays what it receives. Waits up to `waitMs` for a wanted file's fetch to start.
   */
  async liveTransfer(sha256: string, waitMs: number): Promise<LiveTransfer | undefined> {
    const wanted = this.wanted().some((b) => b.sha256 === sha256);
    return this.relays.get(sha256, waitMs, wanted);
  }

  /** Vendor files still to fetch: bytes and count (the primary's "pending"). */
  pending(): { blobs: number; bytes: number } {
    const list = this.wanted();
    return { blobs: list.length, bytes: list.reduce((n, b) => n + b.size - (this.attempts.get(b.sha256)?.offset ?? 0), 0) };
  }

  /** Packages with vendor files still to fetch, most urgent first (the primary's pending packages in its status). */
  pendingPackages(): string[] {
    return [...new Set(this.wanted().flatMap((b) => b.packages))];
  }

  /** What is being fetched or waits to be retried, most urgent first, as status transfers. */
  transfers(max = 100): TransferStatus[] {
    return this.wanted()
      .slice(0, max)
      .map((b) => {
        const a = this.attempts.get(b.sha256);
        return { sha256: b.sha256, packages: b.packages, severity: b.severity, size: b.size, offset: a?.offset ?? 0, state: a?.active ? 'active' : a?.paused ? 'paused' : a?.lastError ? 'waiting' : 'queued', rateBytesPerSec: a?.active ? a.rateBytesPerSec : 0, attempts: a?.attempts ?? 0, peer: `feed:${b.feed}`, lastError: a?.lastError ?? null };
      });
  }

  private async loop(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const seq = this.d.catalog.seq;
      const now = Date.now();
      const due = this.wanted().filter((b) => (this.attempts.get(b.sha256)?.retryAt ?? 0) <= now);
      // A few at a time; the rest wait for the next round.
      await Promise.all(due.slice(0, CONCURRENCY).map((b) => this.fetchOne(b)));
      if (due.length > CONCURRENCY) continue;
      const nextRetry = Math.min(...this.wanted().map((b) => this.attempts.get(b.sha256)?.retryAt ?? Infinity));
      const waitMs = Number.isFinite(nextRetry) ? Math.max(50, nextRetry - Date.now()) : 60_000;
      await this.d.catalog.waitForRecords(seq, waitMs, signal);
    }
  }

  /** Feed files the catalog wants here and the store does not hold, most urgent first. */
  private wanted(): VendorBlob[] {
    const out = new Map<string, VendorBlob>();
    const state = this.d.catalog.state;
    // Only approved packages are fetched, unless a feed downloads everything.
    const all = [...this.d.feeds.values()].some((f) => f.download === 'all');
    for (const pkg of all ? state.all() : state.approved()) {
      if (pkg.feedName === undefined || !this.shouldHold(pkg)) continue;
      const feed = this.d.feeds.get(pkg.feedName);
      if (!feed) continue;
      pkg.files.forEach((f, i) => {
        if (this.d.store.has(f.sha256)) return;
        const prev = out.get(f.sha256);
        if (prev) {
          prev.packages.push(pkg.id);
          prev.severity = mostUrgent(prev.severity, pkg.severity);
          return;
        }
        out.set(f.sha256, { sha256: f.sha256, size: f.size, url: `${feed.url}/${pkg.feed!.paths[i]}`, feed: feed.name, packages: [pkg.id], severity: pkg.severity });
      });
    }
    const rank = { critical: 0, important: 1, moderate: 2, low: 3 } as const;
    return [...out.values()].sort((a, b) => rank[a.severity] - rank[b.severity]);
  }

  private shouldHold(pkg: PackageView): boolean {
    const feed = this.d.feeds.get(pkg.feed!.name);
    const state = this.d.catalog.state.stateOf(pkg);
    if (feed?.download === 'all') return state !== 'declined';
    return state === 'approved';
  }

  private async fetchOne(b: VendorBlob): Promise<void> {
    const a = this.attempts.get(b.sha256) ?? { offset: 0, rateBytesPerSec: 0, attempts: 0, active: false, lastError: null, retryAt: 0 };
    this.attempts.set(b.sha256, a);
    a.active = true;
    a.paused = false;
    a.attempts++;
    const peer = { name: `feed:${b.feed}`, url: b.url };
    const counter = this.d.metrics.transferBytes.labels({ direction: 'in', peer: peer.name });
    // The partial file and the live relay children read while it arrives, released in one place.
    const arrival = await Arrival.acquire(this.d.store, this.relays, b.sha256, b.size, this.stop.signal, undefined);
    let sample = { at: Date.now(), offset: 0 };
    try {
      if (this.d.store.has(b.sha256)) return;
      const outcome = await fetchBlob({
        partial: arrival.partial,
        peer,
        url: b.url,
        selfName: 'primary',
        dispatcher: this.d.dispatcher,
        budget: (b.severity === 'critical' ? this.d.criticalBudget : this.d.budget) ?? UNLIMITED_BUDGET,
        signal: this.stop.signal,
        stallMs: this.d.stallMs,
        checkpointBytes: this.d.checkpointBytes,
        checkpointMs: this.d.checkpointMs,
        onResume: (offset) => {
          a.offset = offset;
          sample = { at: Date.now(), offset };
        },
        onProgress: (written) => arrival.progress(written),
        onBytes: (n) => {
          counter.inc(n);
          a.offset += n;
          const now = Date.now();
          if (now - sample.at >= 1000) {
            a.rateBytesPerSec = ((a.offset - sample.offset) * 1000) / (now - sample.at);
            sample = { at: now, offset: a.offset };
          }
        },
      });
      await this.d.checkFile?.(b.feed, outcome.staged.tmpPath, `${b.url} (${b.packages.join(', ')})`);
      arrival.verified();
      await arrival.commit(this.d.store, outcome.staged, [this.d.store.partials.forgetOp(b.sha256)]);
      this.attempts.delete(b.sha256);
      this.d.log.info({ sha256: b.sha256, size: b.size, packages: b.packages, url: b.url, resumedFrom: outcome.resumedFrom }, 'vendor file fetched and verified');
    } catch (err) {
      if (this.stop.signal.aborted) return;
      if (err instanceof TransferPaused) {
        // A closed window of the primary's schedule: the bytes are kept; look again shortly.
        a.offset = err.offset;
        a.paused = true;
        a.retryAt = Date.now() + PAUSED_RECHECK_MS;
        return;
      }
      const e: SluiceError = toSluiceError(err, `fetching ${b.url}`, 'FEED_UNREACHABLE');
      const first = a.lastError?.code !== e.code;
      a.lastError = { code: e.code, message: e.message, at: new Date().toISOString() };
      // Bytes the catalog pins by sha256 never pass a check they failed: wait the longest.
      const backoff = e.code === 'FEED_PACKAGE_SIGNATURE' ? this.d.backoffCapMs : Math.min(this.d.backoffCapMs, this.d.backoffFloorMs * 2 ** Math.min(a.attempts, 16));
      a.retryAt = Date.now() + backoff * (0.5 + Math.random() / 2);
      if (first) this.d.log.warn({ sha256: b.sha256, url: b.url, code: e.code }, `cannot fetch ${b.packages.join(', ')} from the vendor: ${e.message}; retrying`);
    } finally {
      a.active = false;
      // After a commit this changes nothing (it released everything as stored).
      arrival.release(false);
    }
  }
}
