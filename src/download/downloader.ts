import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import type { TransferState } from '../domain/labels.js';
import { SluiceError, toSluiceError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { BLOB_BATCH_MAX } from '../protocol/blob-batch.js';
import type { RateBudget } from '../schedule/rate-budget.js';
import { packable } from '../store/blob-sizes.js';
import type { BlobStore } from '../store/blob-store.js';
import { tlsErrorCode, tlsFailureReason } from '../tls/node-identity.js';
import { Arrival } from './arrival.js';
import { bufferBytes, downloadBytes } from './bytes-from.js';
import type { BatchOutcome } from './blob-batcher.js';
import { judgeFailure } from './failure-policy.js';
import { TransferPaused } from './fetch-blob.js';
import type { LastError } from './last-error.js';
import { PackedLane } from './packed-lane.js';
import { Task } from './task.js';
import type { DownloadTuning } from './tuning.js';
import type { Route, Source, Want } from './want.js';

export type { TransferView } from './task.js';

/** What a request for a blob this node does not hold is answered from (relay). */
export type RelayAnswer =
  /** Arriving now: relay it as it lands. */
  | { readonly kind: 'arriving'; readonly arrival: Arrival }
  /** Stored meanwhile: serve it from the store. */
  | { readonly kind: 'stored' }
  /** Wanted and on its way (queued, or its source is fetching it), not started within the wait. */
  | { readonly kind: 'pending' }
  /** Not wanted here, or its transfer is failing (`failed`: its last error, which a child is told): not found. */
  | { readonly kind: 'absent'; readonly failed?: { readonly code: string; readonly message: string } };

export interface DownloaderDeps {
  readonly store: BlobStore;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly tuning: DownloadTuning;
  /** The node's byte budgets: its schedule's (or its site's share) and the critical lane's. */
  readonly budgets: { readonly normal: RateBudget; readonly critical: RateBudget };
  /** Free bytes on the data filesystem (disk-space.ts); undefined: not checked. */
  readonly freeBytes?: () => Promise<number | undefined>;
  /** The node's last error (status): failures are noted, a success or a withdrawal clears them. */
  readonly errors?: LastError;
  readonly now?: () => number;
}

/**
 * The node's one downloader: every byte this node receives, whatever its source (a node peer,
 * a vendor URL), goes through it. It owns the queue and the lanes (critical, large, small,
 * and small blobs many per request), each attempt with its `Arrival` (download, relay,
 * lease), pauses of the schedule, the free-space check, the failure policy and backoff, rate
 * sampling, the commit and the "stored" event; and it is the node's one relay source.
 * Planners say what is wanted and in which order (`want`); they never fetch.
 */
export class Downloader {
  private wanted: ReadonlyMap<string, Want> = new Map();
  /** False until a planner said what it wants: before that, no partial download is an orphan. */
  private planned = false;
  private readonly tasks = new Map<string, Task>();
  /** Large blobs arriving now, which children may be relayed (cut-through). */
  private readonly arrivals = new Map<string, Arrival>();
  /** `stored` (want), and per blob `arriving:SHA`, `stored:SHA` for relays waiting on it. */
  private readonly events = new EventEmitter();
  private readonly packed: PackedLane<Task>;
  private readonly small: PQueue;
  private readonly large: PQueue;
  /** Critical packages have slots of their own: bulk transfers held by a paused window never block them. */
  private readonly critical: PQueue;
  private readonly stop = new AbortController();
  private collector: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: DownloaderDeps) {
    this.events.setMaxListeners(0);
    this.now = deps.now ?? Date.now;
    const t = deps.tuning;
    this.small = new PQueue({ concurrency: t.smallConcurrency });
    this.packed = new PackedLane<Task>({ maxBatches: Math.max(1, Math.ceil(t.packedConcurrency / BLOB_BATCH_MAX)), batchSize: BLOB_BATCH_MAX, run: (batch) => this.runPacked(batch) });
    this.large = new PQueue({ concurrency: t.largeConcurrency });
    this.critical = new PQueue({ concurrency: t.criticalConcurrency });
  }

  /** Collects orphan partial downloads now and every `gcEveryMs`. */
  start(): void {
    void this.collectOrphans();
    this.collector = setInterval(() => void this.collectOrphans(), this.deps.tuning.gcEveryMs);
    this.collector.unref();
  }

  async close(): Promise<void> {
    this.stop.abort();
    clearInterval(this.collector);
    for (const t of this.tasks.values()) t.cancel();
    for (const lane of [this.packed, this.small, this.large, this.critical]) lane.clear();
    await Promise.all([this.packed.onIdle(), this.small.onIdle(), this.large.onIdle(), this.critical.onIdle()]);
  }

  /**
   * What is wanted now, the whole of it: blobs not held and not queued are queued, most urgent
   * first; a blob left out is withdrawn (its transfer stops, its partial bytes are dropped).
   * Returns how many were queued anew.
   */
  want(wants: ReadonlyMap<string, Want>): number {
    this.wanted = wants;
    this.planned = true;
    // Most urgent first: a lane starts the first tasks added at once, whatever their priority.
    const fresh = [...wants.values()].filter((w) => !this.deps.store.has(w.sha256) && !this.tasks.has(w.sha256));
    for (const w of fresh.sort((a, b) => b.priority - a.priority)) this.enqueue(new Task(w, Math.min(w.size, this.deps.store.partialBytes(w.sha256)), this.now()));
    for (const [sha, task] of this.tasks) if (!wants.has(sha)) void this.withdraw(task);
    return fresh.length;
  }

  /** Calls `listener` with each blob this downloader stored; returns how to stop. */
  onStored(listener: (want: Want) => void): () => void {
    this.events.on('stored', listener);
    return () => this.events.off('stored', listener);
  }

  /**
   * What a request for a blob this node does not hold is answered from, waiting up to
   * `waitMs` for a wanted one's transfer to start (a child that asks for a blob its hub is
   * about to fetch gets it relayed rather than refused). A small blob is never relayed as it
   * arrives: the request waits until it is stored (milliseconds).
   */
  async relay(sha256: string, waitMs: number): Promise<RelayAnswer> {
    const arriving = this.arrivals.get(sha256);
    if (arriving) return { kind: 'arriving', arrival: arriving };
    if (this.deps.store.has(sha256)) return { kind: 'stored' };
    if (!this.pending(sha256) || waitMs <= 0) return this.pending(sha256) ? { kind: 'pending' } : this.absent(sha256);
    const small = packable(this.wanted.get(sha256)!.size);
    const arrival = await new Promise<Arrival | undefined>((resolve) => {
      const done = (a: Arrival | undefined) => {
        clearTimeout(timer);
        this.events.off(`arriving:${sha256}`, done);
        this.events.off(`stored:${sha256}`, onStored);
        resolve(a);
      };
      const onStored = () => done(undefined);
      const timer = setTimeout(() => done(this.arrivals.get(sha256)), waitMs);
      if (!small) this.events.once(`arriving:${sha256}`, done);
      this.events.once(`stored:${sha256}`, onStored);
    });
    if (arrival && !small) return { kind: 'arriving', arrival };
    if (this.deps.store.has(sha256)) return { kind: 'stored' };
    return this.pending(sha256) ? { kind: 'pending' } : this.absent(sha256);
  }

  /** Not found here; with the reason when this node wants the blob and its own transfer is failing (a child shows it, not a bare 404). */
  private absent(sha256: string): RelayAnswer {
    const failed = this.wanted.has(sha256) ? this.tasks.get(sha256)?.lastError : undefined;
    return failed ? { kind: 'absent', failed: { code: failed.code, message: failed.message } } : { kind: 'absent' };
  }

  /**
   * Whether blob `sha256` is wanted here and on its way: queued, running, paused or
   * committing, or waiting for its source, which is fetching it itself. A transfer failing
   * otherwise is not: asking elsewhere may help the one who asks.
   */
  pending(sha256: string): boolean {
    const task = this.tasks.get(sha256);
    return task !== undefined && this.wanted.has(sha256) && !this.deps.store.has(sha256) && (task.state !== 'waiting' || task.sourcePending);
  }

  /** The transfers, by blob: what status, progress and the forecast read. */
  get transfers(): ReadonlyMap<string, import('./task.js').TransferView> {
    return this.tasks;
  }

  /** Blobs a peer has answered 404 for longer than `missingAfterMs`: withheld or lost upstream. */
  missing(now = this.now()): { sha256: string; packages: readonly string[]; peer: string; since: string }[] {
    const out: { sha256: string; packages: readonly string[]; peer: string; since: string }[] = [];
    for (const t of this.tasks.values()) {
      if (t.notFoundSince === undefined || now - t.notFoundSince < this.deps.tuning.missingAfterMs || !t.route) continue;
      out.push({ sha256: t.want.sha256, packages: t.want.packages, peer: t.route, since: new Date(t.notFoundSince).toISOString() });
    }
    return out;
  }

  /** Transfer gauges: how many by state, how many receiving bytes. */
  updateMetrics(): void {
    const counts: Record<TransferState, number> = { queued: 0, active: 0, paused: 0, verifying: 0, waiting: 0 };
    for (const t of this.tasks.values()) counts[t.state]++;
    for (const [state, n] of Object.entries(counts)) this.deps.metrics.transferQueue.set({ state }, n);
    this.deps.metrics.transfersActive.set(counts.active);
  }

  /**
   * Drops partial downloads nobody holds and nobody wants (a blob declined mid-transfer, one
   * stored meanwhile, one left by a crash), and those untouched for `partialTtlMs`: their
   * bytes would otherwise take disk space the next wanted blob needs until a restart.
   */
  async collectOrphans(): Promise<void> {
    if (!this.planned || this.stop.signal.aborted) return;
    const idle = await this.deps.store.idleDownloads().catch(() => []);
    for (const dl of idle) {
      const wanted = this.wanted.has(dl.sha256) && !this.deps.store.has(dl.sha256);
      if (wanted && dl.idleMs <= this.deps.tuning.partialTtlMs) continue;
      if (await this.deps.store.dropDownload(dl.sha256).catch(() => false)) this.deps.log.info({ sha256: dl.sha256, bytes: dl.bytes }, wanted ? 'partial download untouched for too long; dropped' : 'partial download of a blob no longer wanted; dropped');
    }
  }

  private enqueue(task: Task): void {
    if (this.stop.signal.aborted) return;
    task.state = 'queued';
    this.tasks.set(task.want.sha256, task);
    const { size, source } = task.want;
    const priority = task.want.priority;
    if (!task.critical && packable(size) && source.batches) return this.packed.add(task, priority);
    const lane = task.critical ? this.critical : size <= this.deps.tuning.smallBlobBytes ? this.small : this.large;
    void lane.add(() => this.run(task), { priority }).catch(() => undefined);
  }

  /** Whether `task` is still the one to run (not withdrawn, not replaced, not stored meanwhile). */
  private current(task: Task): boolean {
    const sha = task.want.sha256;
    if (this.stop.signal.aborted || this.tasks.get(sha) !== task) return false;
    if (this.wanted.has(sha) && !this.deps.store.has(sha)) return true;
    this.tasks.delete(sha);
    return false;
  }

  private budgetOf(task: Task, route?: Route): RateBudget {
    return route?.budget ?? (task.critical ? this.deps.budgets.critical : this.deps.budgets.normal);
  }

  /** One attempt at a large blob: resumable into its download, relayed as it lands. */
  private async run(task: Task): Promise<void> {
    if (!this.current(task)) return;
    const { want } = task;
    const sha = want.sha256;
    if (packable(want.size)) return this.runSmall(task, await want.source.route(want, { shared: false }));
    task.state = 'active';
    const controller = task.begin();
    let route: Route | undefined;
    let pausedAt: number | undefined;
    // Download, relay and lease: released in one place (Arrival), by the commit once handed to it.
    let arrival: Arrival | undefined;
    let committing = false;
    try {
      // Siblings of a site: one fetches over the WAN under a lease, the others copy from it.
      route = await want.source.route(want, { shared: true, ...(task.avoid ? { avoid: task.avoid } : {}) });
      task.route = route.name;
      // One owner per blob: a commit of an earlier attempt may still be renaming this file.
      arrival = await Arrival.open(this.deps.store, sha, want.size, controller.signal, route.lease, {
        started: (a) => {
          this.arrivals.set(sha, a);
          this.events.emit(`arriving:${sha}`, a);
        },
        ended: (a) => {
          if (this.arrivals.get(sha) === a) this.arrivals.delete(sha);
        },
      });
      if (this.deps.store.has(sha)) {
        if (this.tasks.get(sha) === task) this.tasks.delete(sha);
        return;
      }
      await this.ensureSpace(task);
      const inbound = arrival;
      const counter = this.deps.metrics.transferBytes.labels({ direction: 'in', peer: route.name });
      const outcome = await want.source.fetch(route, arrival.download, {
        budget: this.budgetOf(task, route),
        signal: controller.signal,
        tuning: this.deps.tuning,
        deferSync: want.size <= this.deps.tuning.smallBlobBytes,
        // Progress, pending bytes and ETA start from what is already held, not from 0.
        onResume: (offset) => task.resumedAt(offset, this.now()),
        onProgress: (written) => inbound.progress(written),
        onBytes: (n) => {
          counter.inc(n);
          task.received(n, this.now());
        },
      });
      if (want.source.check) await this.checked(want, () => want.source.check!(downloadBytes(inbound.download), want), () => inbound.abandon());
      arrival.verified();
      if (outcome.resumedFrom > 0) this.deps.metrics.transferResumes.inc();
      want.source.succeeded(route);
      // The commit joins the store's next group-commit round; the transfer slot is free
      // meanwhile, so small blobs keep the network busy.
      committing = true;
      this.commit(task, route, () => inbound.commit(), outcome.resumedFrom);
    } catch (err) {
      if (!this.current(task)) return;
      if (err instanceof TransferPaused) pausedAt = err.offset;
      else {
        arrival?.release(false);
        await this.failed(task, route, toSluiceError(err, `fetching blob ${sha.slice(0, 12)}…`));
      }
    } finally {
      task.end(controller);
      // A blob handed to the commit stays relayable and owned until that ends; one withdrawn
      // meanwhile leaves nothing behind.
      if (!committing) {
        if (task.withdrawn && arrival) void arrival.abandon();
        else arrival?.release(false);
      }
    }
    if (pausedAt === undefined) return;
    // The window closed: keep the slot (the most urgent transfers go first when it opens),
    // but no connection, then continue from the bytes already held.
    task.paused(pausedAt);
    const wait = task.begin();
    const onStop = () => wait.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      await this.budgetOf(task, route).take(1, wait.signal);
    } catch {
      return;
    } finally {
      this.stop.signal.removeEventListener('abort', onStop);
      task.end(wait);
    }
    return this.run(task);
  }

  /**
   * Refuses to start a transfer that cannot fit: what it and the other running transfers
   * still need, plus a reserve for LevelDB, must be free on the data filesystem.
   */
  private async ensureSpace(task: Task): Promise<void> {
    let need = this.deps.tuning.diskReserveBytes + task.want.size - task.offset;
    for (const t of this.tasks.values()) if (t !== task && t.state === 'active') need += t.want.size - t.offset;
    const free = await this.deps.freeBytes?.();
    if (free !== undefined && free < need) {
      throw new SluiceError('STORE_FULL', `blob ${task.want.sha256.slice(0, 12)}… (${task.want.packages.join(', ')}) needs ${need} bytes with the transfers under way, but only ${free} are free for the node's data; free space or grow the disk (it is retried)`);
    }
  }

  /**
   * A small blob on a request of its own (critical, or a source without batches): fetched
   * whole into memory, verified, and committed into a pack file with the rest of its commit
   * round (one write and one fsync for many blobs). No partial file.
   */
  private async runSmall(task: Task, route: Route): Promise<void> {
    const sha = task.want.sha256;
    const budget = this.budgetOf(task, route);
    task.state = budget.rateBytesPerSec === 0 ? 'paused' : 'active';
    task.route = route.name;
    const controller = task.begin();
    try {
      const counter = this.deps.metrics.transferBytes.labels({ direction: 'in', peer: route.name });
      const data = await task.want.source.fetchWhole(route, task.want, {
        budget,
        signal: controller.signal,
        tuning: this.deps.tuning,
        onBytes: (n) => {
          task.state = 'active';
          counter.inc(n);
          task.offset += n;
        },
      });
      if (task.want.source.check) await this.checked(task.want, () => task.want.source.check!(bufferBytes(data), task.want));
      task.end(controller);
      task.want.source.succeeded(route);
      this.commitSmall(task, route, data);
    } catch (err) {
      task.offset = 0;
      if (!this.current(task)) return;
      await this.failed(task, route, toSluiceError(err, `fetching blob ${sha.slice(0, 12)}…`));
    } finally {
      task.end(controller);
    }
  }

  /**
   * A batch of the packed lane: one request for up to 64 blobs, each committed as its bytes
   * arrive verified, each failure its own blob's (retried alone, with backoff). Blobs no
   * longer wanted when the batch starts are left out; one un-wanted while the batch runs is
   * not committed.
   */
  private async runPacked(batch: Task[]): Promise<void> {
    const bySource = new Map<Source, Map<string, Task>>();
    for (const task of batch) {
      if (!this.current(task)) continue;
      const group = bySource.get(task.want.source) ?? new Map<string, Task>();
      bySource.set(task.want.source, group.set(task.want.sha256, task));
    }
    await Promise.all([...bySource.values()].map((tasks) => this.runBatch(tasks)));
  }

  private async runBatch(tasks: ReadonlyMap<string, Task>): Promise<void> {
    const first = tasks.values().next().value!;
    const source = first.want.source;
    const batcher = source.batches!;
    const route = await source.route(first.want, { shared: false });
    if (!batcher.supports(route.name)) {
      await Promise.all([...tasks.values()].map((t) => this.runSmall(t, route)));
      return;
    }
    const budget = this.budgetOf(first, route);
    for (const t of tasks.values()) {
      t.state = budget.rateBytesPerSec === 0 ? 'paused' : 'active';
      t.route = route.name;
    }
    const failures: [Task, SluiceError][] = [];
    let answered = false;
    await batcher.fetchBatch(
      route,
      [...tasks.values()].map((t) => t.want),
      this.stop.signal,
      (sha, outcome: BatchOutcome) => {
        const task = tasks.get(sha)!;
        if (!Buffer.isBuffer(outcome)) return void failures.push([task, outcome]);
        answered = true;
        if (this.tasks.get(sha) !== task) return;
        task.offset = outcome.length;
        this.commitSmall(task, route, outcome);
      },
      // The window opened: the batch is on the wire, no longer paused.
      () => {
        for (const t of tasks.values()) if (t.state === 'paused') t.state = 'active';
      },
    );
    if (answered) source.succeeded(route);
    // The peer turned out not to serve batches: the same blobs, one request each, at once.
    if (!batcher.supports(route.name)) {
      await Promise.all(failures.filter(([t]) => this.tasks.get(t.want.sha256) === t).map(([t]) => this.runSmall(t, route)));
      return;
    }
    for (const [task, e] of failures) {
      task.offset = 0;
      if (!this.current(task)) continue;
      await this.failed(task, route, e);
    }
  }

  /**
   * The one way a verified blob becomes visible, whichever lane fetched it: `commit` joins the
   * store's next group-commit round (the download's commit drops its partial in the same
   * step), off the transfer's slot, so the lane keeps fetching while a round appends and
   * fsyncs. Then the task ends and "stored" is told, or it fails like an attempt (STORE_IO).
   */
  private commit(task: Task, route: Route, commit: () => Promise<void>, resumedFrom?: number): void {
    const { want } = task;
    const sha = want.sha256;
    task.notFoundSince = undefined;
    task.state = 'verifying';
    commit().then(
      () => {
        if (this.tasks.get(sha) === task) this.tasks.delete(sha);
        this.deps.errors?.clear(sha);
        const fields = { sha256: sha, size: want.size, packages: want.packages, peer: route.name };
        if (resumedFrom !== undefined) this.deps.log.info({ ...fields, resumedFrom }, 'blob stored');
        else this.deps.log.debug(fields, 'blob stored');
        this.events.emit(`stored:${sha}`);
        this.events.emit('stored', want);
      },
      (err: unknown) => {
        if (resumedFrom === undefined) task.offset = 0;
        void this.failed(task, route, toSluiceError(err, `committing blob ${sha.slice(0, 12)}…`, 'STORE_IO'));
      },
    );
  }

  /**
   * A source's check of bytes that hashed to their sha256 (an RPM feed's package signature):
   * bytes it refuses are dropped (`drop`) and never stored or relayed whole; its error, which
   * retrying the same bytes cannot help, is the attempt's.
   */
  private async checked(want: Want, check: () => Promise<void>, drop?: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (err) {
      await drop?.();
      const e = toSluiceError(err, `checking blob ${want.sha256.slice(0, 12)}…`);
      this.deps.log.warn({ sha256: want.sha256, code: e.code, packages: want.packages.slice(0, 5) }, `refused ${want.packages.slice(0, 3).join(', ')}: ${e.message}`);
      throw e;
    }
  }

  /** A verified small blob, committed from memory into a pack file with the rest of its round. */
  private commitSmall(task: Task, route: Route, data: Buffer): void {
    this.commit(task, route, () => this.deps.store.commit([this.deps.store.stageBuffer(task.want.sha256, data)]));
  }

  /** Counts a failed attempt and schedules the next one with backoff (failure-policy.ts). */
  private async failed(task: Task, route: Route | undefined, e: SluiceError): Promise<void> {
    const { want } = task;
    const sha = want.sha256;
    if (this.stop.signal.aborted || this.tasks.get(sha) !== task) return;
    task.attempts++;
    const verdict = judgeFailure(e, task.attempts, task.notFoundSince, this.now(), this.deps.tuning, want.source.notFoundIsTransient);
    task.sourcePending = e.code === 'BLOB_PENDING';
    // Told once per kind of failure (a vendor that refuses, a peer that stalls), not per retry;
    // a node that does not hold a blob yet is the ordinary case.
    const news = verdict.record && e.code !== task.lastError?.code && !(e.code === 'BLOB_NOT_FOUND' && want.source.notFoundIsTransient);
    if (verdict.record) {
      task.lastError = { code: e.code, message: e.message, at: new Date(this.now()).toISOString() };
      this.deps.errors?.note(e, sha, `blob ${sha.slice(0, 12)}… (${want.packages.join(', ')})`);
    }
    // A sibling that could not give the blob is not asked again: the lease or the upstream is.
    if (route?.sibling) task.avoid = route.name;
    if (e.code === 'HASH_MISMATCH') this.deps.metrics.hashMismatch.inc();
    const tls = tlsErrorCode(e.cause);
    if (tls) this.deps.metrics.tlsHandshakeFailures.inc({ reason: tlsFailureReason(tls) });
    this.deps.metrics.transferRetries.inc();
    task.notFoundSince = verdict.notFoundSince;
    // Failed over: the next peer gets its own time before a 404 is its fault.
    if (verdict.blamePeer && route && want.source.failed(route, e) && e.code === 'BLOB_NOT_FOUND') task.notFoundSince = undefined;
    task.rateBytesPerSec = 0;
    const delay = verdict.retryInMs;
    task.state = 'waiting';
    if (news) this.deps.log.warn({ sha256: sha, code: e.code, from: route?.name, delayMs: delay }, `cannot fetch blob ${sha.slice(0, 12)}… (${want.packages.join(', ')}): ${e.message}; retrying`);
    else this.deps.log.debug({ sha256: sha, code: e.code, attempt: task.attempts, delayMs: delay }, 'transfer failed; retrying');
    task.retryTimer = setTimeout(() => this.enqueue(task), delay);
  }

  /** No longer wanted: the transfer stops and what it held is dropped (now, or when its attempt ends). */
  private async withdraw(task: Task): Promise<void> {
    const sha = task.want.sha256;
    task.withdrawn = true;
    task.cancel();
    this.tasks.delete(sha);
    this.deps.errors?.clear(sha);
    // Held by a running attempt: that attempt drops it as it ends. Held by a commit: it
    // becomes a blob (collected after the grace period like any unwanted one).
    await this.deps.store.dropDownload(sha).catch(() => false);
  }
}
