import { request, type Dispatcher } from 'undici';
import type { CatalogLog } from '../catalog/catalog-log.js';
import { UnverifiedRun } from '../catalog/unverified-run.js';
import { CatalogRejected, verifyPage, type RejectReason } from '../catalog/verify-page.js';
import { SluiceError, toSluiceError } from '../errors.js';
import { NODE_HEADER } from '../protocol/headers.js';
import { catalogUrl } from '../protocol/paths.js';
import { CATALOG_ACCEPT, catalogPageText } from '../protocol/catalog-page.js';
import { requestDeadline } from '../protocol/request-deadline.js';
import type { PeerClient } from '../protocol/peer-client.js';
import { tlsErrorCode, tlsFailureReason } from '../tls/node-identity.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { backoffMs, sleep } from './backoff.js';
import type { PeerSelector } from './peers.js';
import type { ReplicationTuning } from './tuning.js';

export interface FollowerDeps {
  readonly selfName: string;
  readonly catalog: CatalogLog;
  readonly peers: PeerSelector;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly tuning: ReplicationTuning;
  readonly syncEveryMs: number;
  readonly syncJitterMs: number;
  /** Called after newly verified records were committed. */
  readonly onRecords: () => void;
  readonly onError: (err: SluiceError) => void;
  /** Called after a page from the upstream verified: an earlier sync error no longer holds. */
  readonly onSynced?: () => void;
  /** The node's one connection pool for calls to other nodes (TLS options included). */
  readonly client: PeerClient;
  readonly now?: () => number;
}

/** A peer clock further off than this is shown as a warning in status. */
export const CLOCK_SKEW_WARN_SECONDS = 30;

/**
 * Keeps this node's catalog in step with its upstream. Long-polls for records after the
 * newest one received; each page is verified (signature, expiry, no rollback, hash chain)
 * and staged; once the records reach the signed head they are committed and announced.
 * A response that fails verification is rejected whole and counted; the node keeps its last
 * verified catalog, and the peer is counted as failing (so a forging hub is left for the
 * fallback). When long-poll is not honoured (answers come back at once), it polls every
 * `sync.every` ± `sync.jitter` instead.
 */
export class CatalogFollower {
  private attempt = 0;
  /** Consecutive empty answers that came back long before the wait was over. */
  private quickEmpty = 0;
  private lastProblem: string | undefined;
  private running: Promise<void> | undefined;
  /** Records staged ahead of the verified head: from which peer, since when, how many bytes. */
  private staging: UnverifiedRun | undefined;
  lastSyncAt: number | undefined;
  /** Each peer's clock minus ours, seconds, from the Date header of its last answer (±1 s). */
  readonly clockSkew = new Map<string, number>();

  constructor(private readonly d: FollowerDeps) {}

  start(signal: AbortSignal): void {
    this.running = this.loop(signal);
  }

  async closed(): Promise<void> {
    await this.running;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const now = this.d.now ?? Date.now;
    // Nodes restarted together (a site power cut, a fleet upgrade) spread their first
    // polls over the jitter window instead of hitting their upstream at once.
    if (this.d.syncJitterMs > 0) await sleep(Math.random() * this.d.syncJitterMs, signal);
    while (!signal.aborted) {
      const peer = this.d.peers.current();
      // Records staged from one peer are never continued from another: a forging hub's staged
      // tip would otherwise be asked of the honest fallback, which has no such records.
      if (this.staging && this.staging.peer !== peer.name) await this.dropStaged();
      const tip = this.d.catalog.receivedTip;
      const catchingUp = tip.seq > this.d.catalog.seq;
      const waitSec = catchingUp ? 0 : this.d.tuning.longPollSec;
      const started = now();
      const headBefore = this.d.catalog.head?.expires;
      const timestampBefore = this.d.catalog.timestamp?.issued;
      try {
        const url = catalogUrl(peer.url, tip.seq, this.d.tuning.catalogPage, waitSec);
        const deadline = requestDeadline((waitSec + 30) * 1000, signal, `catalog from ${peer.name}`);
        let res: Dispatcher.ResponseData;
        let text: string;
        try {
          res = await request(url, { dispatcher: this.d.client.dispatcher, headers: { [NODE_HEADER]: this.d.selfName, ...CATALOG_ACCEPT }, signal: deadline.signal, headersTimeout: 0, bodyTimeout: 0 });
          deadline.answered(60_000);
          text = await catalogPageText(res, `catalog from ${peer.name}`, this.d.tuning.catalogPage);
        } catch (err) {
          throw deadline.expired ? deadline.signal.reason : err;
        } finally {
          deadline.clear();
        }
        this.noteClock(peer.name, res.headers.date, now());
        if (res.statusCode !== 200) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `catalog from ${peer.name}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new CatalogRejected('malformed', `catalog from ${peer.name} is not JSON`);
        }
        const page = verifyPage(body, { seq: this.d.catalog.seq, hash: this.d.catalog.tipHash }, tip, tip.root, now());
        // Checked before the page is written: a runaway upstream never stages past the bounds.
        if (!page.complete) {
          this.staging ??= new UnverifiedRun(peer.name, now(), this.d.tuning);
          this.staging.admit(page, text.length, now(), this.d.catalog);
        }
        await this.d.catalog.stageRecords(page.records, page.root);
        if (page.complete) {
          this.staging = undefined;
          const rootBefore = this.d.catalog.root.version;
          const fresh = await this.d.catalog.commitHead(page.head, page.timestamp, page.root);
          if (page.root.version !== rootBefore) this.d.log.info({ version: page.root.version, peer: peer.name }, 'new root of trust verified and in force');
          this.lastSyncAt = now();
          this.d.metrics.upstreamLastSync.set({ peer: peer.name }, this.lastSyncAt / 1000);
          if (fresh) {
            this.d.log.debug({ peer: peer.name, seq: this.d.catalog.seq, records: fresh }, 'catalog records verified and committed');
            this.d.onRecords();
          }
        }
        // Only a page that reaches a verified head is progress: staging alone never makes a
        // peer healthy, so an upstream that only ever sends "more" is left for the fallback.
        if (page.complete) {
          this.d.peers.succeeded(peer);
          this.d.onSynced?.();
          this.attempt = 0;
          this.recovered();
        }
        // A renewed head or timestamp is news, not a long-poll answered early.
        const answeredAtOnce = waitSec > 0 && page.records.length === 0 && page.head.expires === headBefore && (page.timestamp === undefined || page.timestamp.issued === timestampBefore) && now() - started < (waitSec * 1000) / 2;
        this.quickEmpty = answeredAtOnce ? this.quickEmpty + 1 : 0;
        // One early answer happens (an upstream shutting down releases its polls); three in a
        // row mean the upstream, or a proxy before it, does not hold long-polls: poll on a timer.
        if (this.quickEmpty >= 3) {
          const jitter = (Math.random() * 2 - 1) * this.d.syncJitterMs;
          // Never past the expiry of the newest timestamp: a frozen upstream is noticed within
          // one timestamp lifetime, whatever sync.every says.
          const ts = this.d.catalog.timestamp;
          const untilStale = ts ? Date.parse(ts.expires) - now() + 1000 : Infinity;
          await sleep(Math.max(1000, Math.min(this.d.syncEveryMs + jitter, untilStale)), signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        const e = err instanceof SluiceError ? err : toSluiceError(err, `catalog from ${peer.name}`);
        const tls = tlsErrorCode(err);
        if (tls) this.d.metrics.tlsHandshakeFailures.inc({ reason: tlsFailureReason(tls) });
        if (e instanceof CatalogRejected) this.d.metrics.catalogRejected.inc({ reason: e.reason });
        // Whatever failed, nothing staged from this sync is kept: the next one starts from
        // the verified head, from whichever peer is current then.
        await this.dropStaged();
        this.d.peers.failed(peer, e.code);
        this.problem(e, peer.name, e instanceof CatalogRejected ? e.reason : undefined);
        await sleep(backoffMs(this.attempt++, this.d.tuning.backoffFloorMs, this.d.tuning.backoffCapMs), signal);
      }
    }
  }

  private async dropStaged(): Promise<void> {
    this.staging = undefined;
    if (this.d.catalog.receivedTip.seq !== this.d.catalog.seq) await this.d.catalog.discardUnverified().catch(() => undefined);
  }

  /**
   * Sites' clocks drift, and head expiry is judged by ours: the offset of each peer's clock
   * is measured from its answers (the Date header, written as it answers) and exposed, so
   * that a skew is seen before it makes heads look expired or fresh when they are not.
   */
  private noteClock(peer: string, date: string | string[] | undefined, at: number): void {
    const theirs = typeof date === 'string' ? Date.parse(date) : NaN;
    if (Number.isNaN(theirs)) return;
    // The header has whole seconds: compare with our time truncated the same way.
    const skew = Math.round((theirs - Math.floor(at / 1000) * 1000) / 1000);
    const before = this.clockSkew.get(peer);
    this.clockSkew.set(peer, skew);
    this.d.metrics.peerClockSkew.set({ peer }, skew);
    const warn = Math.abs(skew) > CLOCK_SKEW_WARN_SECONDS;
    if (warn && (before === undefined || Math.abs(before) <= CLOCK_SKEW_WARN_SECONDS)) this.d.log.warn({ peer, skewSeconds: skew }, `the clock of ${peer} differs from ours by ${skew} s; check NTP on both hosts`);
  }

  /** Logs a problem once per kind, not on every retry. */
  private problem(err: SluiceError, peer: string, reason: RejectReason | undefined): void {
    this.d.onError(err);
    const kind = `${peer}:${err.code}`;
    if (kind === this.lastProblem) return;
    this.lastProblem = kind;
    if (reason) this.d.log.error({ peer, reason, code: err.code }, `catalog rejected: ${err.message}; keeping the verified catalog (seq ${this.d.catalog.seq})`);
    else this.d.log.warn({ peer, code: err.code }, `catalog sync failing: ${err.message}`);
  }

  private recovered(): void {
    if (this.lastProblem === undefined) return;
    this.lastProblem = undefined;
    this.d.log.info({ seq: this.d.catalog.seq }, 'catalog sync healthy again');
  }
}
