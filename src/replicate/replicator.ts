import { statfs } from 'node:fs/promises';
import PQueue from 'p-queue';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { TransferState } from '../domain/labels.js';
import { SluiceError, toSluiceError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ScheduleController } from '../schedule/schedule-controller.js';
import type { BlobStore } from '../store/blob-store.js';
import type { MetaDb } from '../store/meta-db.js';
import type { BatchOp } from '../store/meta-db.js';
import { Arrival } from '../transfer/arrival.js';
import type { PeerClient } from '../protocol/peer-client.js';
import { tlsErrorCode, tlsFailureReason } from '../tls/node-identity.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { TransferPaused, fetchBlob } from '../transfer/fetch-blob.js';
import type { LiveTransfer } from '../transfer/live-transfer.js';
import { judgeFailure } from './peer-faults.js';
import { CatalogFollower } from './catalog-follower.js';
import { GarbageCollector } from './garbage-collector.js';
import { LastError } from './last-error.js';
import { BlobBatcher, type BatchOutcome } from '../transfer/blob-batcher.js';
import { BLOB_BATCH_MAX } from '../protocol/blob-batch.js';
import { PackedLane } from './packed-lane.js';
import { fetchSmallBlob } from '../transfer/fetch-small-blob.js';
import { UNLIMITED_BUDGET, type RateBudget } from '../schedule/rate-budget.js';
import type { BlobLease, BlobLeases } from '../site/blob-leases.js';
import { packable } from '../store/blob-sizes.js';
import { LiveRelays } from '../transfer/live-relays.js';
import { PeerSelector, type Peer } from './peers.js';
import type { ReplicationTuning } from './tuning.js';
import { wantedBlobs, type WantedBlob } from './wanted.js';
import type { PackageForecast, PendingPackage } from '../schedule/forecast.js';
import { ReplicationProgress } from './progress.js';
import { priorityOf } from './priority.js';

export type { TransferState };

interface Task {
  readonly blob: WantedBlob;
  state: TransferState;
  attempts: number;
  /** Bytes of the blob held in the partial file (resumed offset + received). */
  offset: number;
  rateBytesPerSec: number;
  sample: { at: number; offset: number };
  lastError: { code: string; message: string; at: string } | undefined;
  peer: string | undefined;
  controller: AbortController | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  /** Since when the current peer has answered 404 for this blob (undefined: it has not). */
  notFoundSince: number | undefined;
  /** A sibling that failed to give this blob (down, or no longer holding it): not asked again by this task. */
  avoidSibling?: string;
}

/**
 * Failures that say something about the peer. This node's own disk (STORE_IO, STORE_FULL)
 * and a blob the peer does not hold yet (BLOB_NOT_FOUND, until `missingAfterMs`) do not.
 */

export interface ReplicatorDeps {
  readonly topology: Topology;
  readonly spec: NodeSpec;
  readonly catalog: CatalogLog;
  readonly store: BlobStore;
  readonly db: MetaDb;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly tuning: ReplicationTuning;
  /** Ingress budgets from the schedule (and the critical lane). */
  readonly schedule: ScheduleController;
  /** Unwanted blobs are deleted after this long (policy.grace). */
  readonly graceMs: number;
  /** The node's one connection pool for calls to other nodes. */
  readonly client: PeerClient;
  /**
   * Sibling nodes of this node's site (topology `site`): the WAN budget they share, the
   * leases that let one of them fetch each blob, and where a sibling is reached.
   */
  readonly site?: { readonly budget: RateBudget; readonly leases: BlobLeases; siblingUrl(name: string): string };
  /** Called when the catalog gave this node blobs to fetch that it had not queued before. */
  readonly onBacklog?: () => void;
}

/**
 * What this node should hold versus what it holds. It follows the catalog, computes the
 * wanted blobs (its own and its subtree's), and fetches the missing ones from the current
 * peer, most urgent first: severity, then approval time. Blobs no longer wanted are removed
 * after the grace period unless another wanted package shares them.
 */
export class Replicator {
  private wanted = new Map<string, WantedBlob>();
  private readonly tasks = new Map<string, Task>();
  /** Transfers receiving bytes now, which children may be served from (cut-through). */
  private readonly relays = new LiveRelays();
  private readonly gc: GarbageCollector;
  private readonly small: PQueue;
  /** Blobs that go into pack files, 64 per request (critical ones keep the critical lane). */
  private readonly packed: PackedLane<Task>;
  private readonly large: PQueue;
  /** Critical packages have slots of their own: bulk transfers held by a paused window never block them. */
  private readonly critical: PQueue;
  private readonly stop = new AbortController();
  private gcTimer: NodeJS.Timeout | undefined;
  private readonly peers: PeerSelector;
  private readonly follower: CatalogFollower;
  /** The last error, and whether it still holds (cleared when what failed next succeeds). */
  readonly errors = new LastError();
  private readonly batcher: BlobBatcher;
  private readonly report: ReplicationProgress;

  /** Lines of replication itself; its parts take their own component from the node's logger (never nested: one "component" key per line). */
  private readonly log: Logger;

  constructor(private readonly d: ReplicatorDeps) {
    this.log = d.log.child({ component: 'replicate' });
    this.small = new PQueue({ concurrency: d.tuning.smallConcurrency });
    this.packed = new PackedLane<Task>({ maxBatches: Math.max(1, Math.ceil(d.tuning.packedConcurrency / BLOB_BATCH_MAX)), batchSize: BLOB_BATCH_MAX, run: (batch) => this.runPacked(batch) });
    this.large = new PQueue({ concurrency: d.tuning.largeConcurrency });
    this.critical = new PQueue({ concurrency: d.tuning.criticalConcurrency });
    this.batcher = new BlobBatcher({
      selfName: d.spec.name,
      dispatcher: d.client.dispatcher,
      budget: d.schedule.budget,
      stallMs: d.tuning.stallMs,
      onBytes: (peer, n) => d.metrics.transferBytes.labels({ direction: 'in', peer }).inc(n),
    });
    this.gc = new GarbageCollector(d.store, d.graceMs, d.log.child({ component: 'gc' }));
    this.report = new ReplicationProgress({ ...d, forecastSchedule: () => d.schedule.forecastSchedule() }, () => ({ wanted: this.wanted, tasks: this.tasks }));
    this.peers = new PeerSelector(d.topology, d.spec, d.tuning.peerFailures, d.tuning.probeMs, d.metrics, d.log.child({ component: 'peers' }), d.client);
    const region = d.topology.regions.get(d.spec.region)!;
    this.follower = new CatalogFollower({
      selfName: d.spec.name,
      catalog: d.catalog,
      peers: this.peers,
      metrics: d.metrics,
      log: d.log.child({ component: 'catalog' }),
      tuning: d.tuning,
      syncEveryMs: region.syncEveryMs,
      syncJitterMs: region.syncJitterMs,
      onRecords: () => this.refresh(),
      onError: (e) => this.errors.note(e, 'catalog', `catalog sync`),
      onSynced: () => this.errors.clear('catalog'),
      client: d.client,
    });
  }

  async start(): Promise<void> {
    this.wanted = wantedBlobs(this.d.topology, this.d.spec, this.d.catalog.state);
    this.refresh();
    this.follower.start(this.stop.signal);
    this.gcTimer = setInterval(() => void this.gc.collect(this.wanted), this.d.tuning.gcEveryMs);
    this.gcTimer.unref();
  }

  async close(): Promise<void> {
    this.stop.abort();
    clearInterval(this.gcTimer);
    this.peers.close();
    for (const t of this.tasks.values()) {
      clearTimeout(t.retryTimer);
      t.controller?.abort();
    }
    for (const lane of [this.packed, this.small, this.large, this.critical]) lane.clear();
    await Promise.all([this.packed.onIdle(), this.small.onIdle(), this.large.onIdle(), this.critical.onIdle(), this.follower.closed()]);
  }

  /** Recomputes what to hold after the catalog (or the store) changed. */
  refresh(): void {
    this.wanted = wantedBlobs(this.d.topology, this.d.spec, this.d.catalog.state);
    // Most urgent first: a lane starts the first tasks added at once, whatever their priority.
    const fresh = [...this.wanted.values()].filter((b) => !this.d.store.has(b.sha256) && !this.tasks.has(b.sha256));
    for (const blob of fresh.sort((a, b) => priorityOf(b) - priorityOf(a))) this.enqueue(this.newTask(blob));
    // New backlog here is news for the tree's forecast: status goes up soon, not at its next tick.
    if (fresh.length > 0) this.d.onBacklog?.();
    for (const [sha, task] of this.tasks) {
      if (this.wanted.has(sha)) continue;
      clearTimeout(task.retryTimer);
      task.controller?.abort();
      this.tasks.delete(sha);
      this.errors.clear(sha);
    }
    this.gc.note(this.wanted);
    if (this.d.graceMs === 0) void this.gc.collect(this.wanted);
  }

  /**
   * The live transfer of a blob, waiting up to `waitMs` for a wanted one to start: a child
   * that asks for a blob its hub is about to fetch gets it relayed rather than a 404.
   */
  async liveTransfer(sha256: string, waitMs: number): Promise<LiveTransfer | undefined> {
    const blob = this.wanted.get(sha256);
    // A small blob is never relayed as it arrives: the request waits until it is stored
    // (milliseconds), and the route then serves it from the store.
    if (blob && packable(blob.size)) {
      if (!this.d.store.has(sha256)) await this.relays.waitStored(sha256, waitMs);
      return undefined;
    }
    return this.relays.get(sha256, waitMs, blob !== undefined);
  }

  /** Snapshot for status and metrics (see progress.ts). */
  progress(maxTransfers?: number) {
    return this.report.progress(maxTransfers);
  }

  pendingPackages(): PendingPackage[] {
    return this.report.pendingPackages();
  }

  forecast(now = new Date()): PackageForecast[] {
    return this.report.forecast(now);
  }

  /** Progress gauges, and how many blobs each upstream has answered 404 for too long. */
  updateMetrics(): void {
    this.report.updateMetrics();
    const missing = new Map<string, number>(this.peers.all.map((p) => [p.name, 0]));
    for (const m of this.missing()) missing.set(m.peer, (missing.get(m.peer) ?? 0) + 1);
    for (const [peer, n] of missing) this.d.metrics.blobsMissingUpstream.set({ peer }, n);
  }

  /** The upstream this node fetches from now (its preferred one, or a fallback after failures). */
  currentUpstream(): Peer {
    return this.peers.current();
  }

  /** Which upstream is preferred and in use, the last catalog sync, and each peer's clock skew (status). */
  upstreamView(): { preferred: string; current: string; lastSyncAt: number | undefined; clockSkew: ReadonlyMap<string, number> } {
    return { preferred: this.peers.preferred.name, current: this.peers.current().name, lastSyncAt: this.follower.lastSyncAt, clockSkew: this.follower.clockSkew };
  }

  private newTask(blob: WantedBlob): Task {
    // A transfer queued behind others after a restart already holds its partial's bytes.
    const offset = Math.min(blob.size, this.d.store.partialBytes(blob.sha256));
    return { blob, state: 'queued', attempts: 0, offset, rateBytesPerSec: 0, sample: { at: Date.now(), offset }, lastError: undefined, peer: undefined, controller: undefined, retryTimer: undefined, notFoundSince: undefined };
  }

  private enqueue(task: Task): void {
    if (this.stop.signal.aborted) return;
    task.state = 'queued';
    this.tasks.set(task.blob.sha256, task);
    const size = task.blob.size;
    if (task.blob.severity !== 'critical' && packable(size)) return this.packed.add(task, priorityOf(task.blob));
    const lane = task.blob.severity === 'critical' ? this.critical : size <= this.d.tuning.smallBlobBytes ? this.small : this.large;
    void lane.add(() => this.run(task), { priority: priorityOf(task.blob) }).catch(() => undefined);
  }

  private async run(task: Task): Promise<void> {
    const sha = task.blob.sha256;
    if (this.stop.signal.aborted || this.tasks.get(sha) !== task) return;
    if (!this.wanted.has(sha) || this.d.store.has(sha)) {
      this.tasks.delete(sha);
      return;
    }
    let peer: Peer = this.peers.current();
    let budget = task.blob.severity === 'critical' ? this.d.schedule.criticalBudget : (this.d.site?.budget ?? this.d.schedule.budget);
    if (packable(task.blob.size)) return this.runSmall(task, peer, budget);
    task.state = 'active';
    task.peer = peer.name;
    const controller = (task.controller = new AbortController());
    // Siblings of a site: one fetches over the WAN under a lease, the others copy from it.
    let lease: BlobLease | undefined;
    if (this.d.site) {
      const plan = await this.d.site.leases.plan(sha, task.avoidSibling);
      if (plan.kind === 'lease') lease = plan.lease;
      else if (plan.kind === 'sibling') {
        peer = { name: plan.node, url: this.d.site.siblingUrl(plan.node) };
        task.peer = peer.name;
        // The LAN: the site's WAN budget does not apply.
        budget = UNLIMITED_BUDGET;
      }
    }
    let pausedAt: number | undefined;
    // Partial, relay and lease: released in one place (Arrival), by the commit once handed to it.
    let arrival: Arrival | undefined;
    let committing = false;
    try {
      // One owner per blob: a commit of an earlier attempt may still be renaming this file.
      arrival = await Arrival.acquire(this.d.store, this.relays, sha, task.blob.size, controller.signal, lease);
      if (this.d.store.has(sha)) {
        if (this.tasks.get(sha) === task) this.tasks.delete(sha);
        return;
      }
      await this.ensureSpace(task);
      const inbound = arrival;
      const counter = this.d.metrics.transferBytes.labels({ direction: 'in', peer: peer.name });
      const outcome = await fetchBlob({
        partial: arrival.partial,
        peer,
        selfName: this.d.spec.name,
        dispatcher: this.d.client.dispatcher,
        budget,
        signal: controller.signal,
        stallMs: this.d.tuning.stallMs,
        checkpointBytes: this.d.tuning.checkpointBytes,
        checkpointMs: this.d.tuning.checkpointMs,
        deferSync: task.blob.size <= this.d.tuning.smallBlobBytes,
        onResume: (offset) => {
          // Progress, pending bytes and ETA start from what is already held, not from 0.
          task.offset = offset;
          task.sample = { at: Date.now(), offset };
        },
        onProgress: (written) => inbound.progress(written),
        onBytes: (n) => {
          counter.inc(n);
          task.offset += n;
          const now = Date.now();
          if (now - task.sample.at >= 1000) {
            task.rateBytesPerSec = ((task.offset - task.sample.offset) * 1000) / (now - task.sample.at);
            task.sample = { at: now, offset: task.offset };
          }
        },
      });
      arrival.verified();
      if (outcome.resumedFrom > 0) this.d.metrics.transferResumes.inc();
      this.peers.succeeded(peer);
      // The commit joins the store's next group-commit round; the transfer slot is free
      // meanwhile, so small blobs keep the network busy.
      committing = true;
      this.commitVerified(task, peer, (extra) => inbound.commit(extra), { resumedFrom: outcome.resumedFrom });
    } catch (err) {
      if (this.stop.signal.aborted || this.tasks.get(sha) !== task) return;
      if (err instanceof TransferPaused) pausedAt = err.offset;
      else {
        arrival?.release(false);
        await this.failed(task, peer, toSluiceError(err, `fetching blob ${sha.slice(0, 12)}…`));
      }
    } finally {
      task.controller = undefined;
      // A blob handed to the commit stays relayable and owned until that ends.
      if (!committing) arrival?.release(false);
    }
    if (pausedAt === undefined) return;
    // The window closed: keep the slot (the most urgent transfers go first when it opens),
    // but no connection, then continue from the bytes already held.
    task.state = 'paused';
    task.offset = pausedAt;
    task.rateBytesPerSec = 0;
    // Its own signal: an un-wanted paused task gives its slot back at once (refresh aborts it).
    const wait = (task.controller = new AbortController());
    const onStop = () => wait.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      await budget.take(1, wait.signal);
    } catch {
      return;
    } finally {
      this.stop.signal.removeEventListener('abort', onStop);
      if (task.controller === wait) task.controller = undefined;
    }
    return this.run(task);
  }

  /**
   * Refuses to start a transfer that cannot fit: what it and the other running transfers
   * still need, plus a reserve for LevelDB, must be free on the data filesystem.
   */
  private async ensureSpace(task: Task): Promise<void> {
    let need = this.d.tuning.diskReserveBytes + task.blob.size - task.offset;
    for (const t of this.tasks.values()) if (t !== task && t.state === 'active') need += t.blob.size - t.offset;
    const fs = await statfs(this.d.spec.dataDir).catch(() => undefined);
    if (!fs) return;
    const free = fs.bavail * fs.bsize;
    if (free < need) {
      throw new SluiceError('STORE_FULL', `blob ${task.blob.sha256.slice(0, 12)}… (${task.blob.packages.join(', ')}) needs ${need} bytes with the transfers under way, but only ${free} are free in ${this.d.spec.dataDir}; free space or grow the disk (it is retried)`);
    }
  }

  /**
   * A small blob on a request of its own (critical, or a peer without the batch route):
   * fetched whole into memory, verified, and committed into a pack file with the rest of its
   * commit round (one write and one fsync for many blobs). No partial file.
   */
  private async runSmall(task: Task, peer: Peer, budget: RateBudget): Promise<void> {
    const sha = task.blob.sha256;
    task.state = budget.rateBytesPerSec === 0 ? 'paused' : 'active';
    task.peer = peer.name;
    const controller = (task.controller = new AbortController());
    try {
      const counter = this.d.metrics.transferBytes.labels({ direction: 'in', peer: peer.name });
      const data = await fetchSmallBlob({
        sha256: sha,
        size: task.blob.size,
        peer,
        selfName: this.d.spec.name,
        dispatcher: this.d.client.dispatcher,
        budget,
        signal: controller.signal,
        stallMs: this.d.tuning.stallMs,
        onBytes: (n) => {
          task.state = 'active';
          counter.inc(n);
          task.offset += n;
        },
      });
      task.controller = undefined;
      this.peers.succeeded(peer);
      this.commitSmall(task, peer, data);
    } catch (err) {
      task.offset = 0;
      if (this.stop.signal.aborted || this.tasks.get(sha) !== task) return;
      await this.failed(task, peer, toSluiceError(err, `fetching blob ${sha.slice(0, 12)}…`));
    } finally {
      if (task.controller === controller) task.controller = undefined;
    }
  }

  /**
   * A batch of the packed lane: one request for up to 64 blobs, each committed as its bytes
   * arrive verified, each failure its own blob's (retried alone, with backoff). Blobs no
   * longer wanted when the batch starts are left out; one un-wanted while the batch runs is
   * not committed.
   */
  private async runPacked(batch: Task[]): Promise<void> {
    const tasks = new Map<string, Task>();
    for (const task of batch) {
      const sha = task.blob.sha256;
      if (this.stop.signal.aborted || this.tasks.get(sha) !== task) continue;
      if (!this.wanted.has(sha) || this.d.store.has(sha)) this.tasks.delete(sha);
      else tasks.set(sha, task);
    }
    if (tasks.size === 0) return;
    const peer = this.peers.current();
    const budget = this.d.site?.budget ?? this.d.schedule.budget;
    if (!this.batcher.supports(peer.name)) {
      await Promise.all([...tasks.values()].map((t) => this.runSmall(t, peer, budget)));
      return;
    }
    for (const t of tasks.values()) {
      t.state = budget.rateBytesPerSec === 0 ? 'paused' : 'active';
      t.peer = peer.name;
    }
    const failures: [Task, SluiceError][] = [];
    let answered = false;
    await this.batcher.fetchBatch(
      peer,
      [...tasks.values()].map((t) => t.blob),
      this.stop.signal,
      (sha, outcome: BatchOutcome) => {
        const task = tasks.get(sha)!;
        if (!Buffer.isBuffer(outcome)) return void failures.push([task, outcome]);
        answered = true;
        if (this.tasks.get(sha) !== task) return;
        task.offset = outcome.length;
        this.commitSmall(task, peer, outcome);
      },
      // The window opened: the batch is on the wire, no longer paused.
      () => {
        for (const t of tasks.values()) if (t.state === 'paused') t.state = 'active';
      },
    );
    if (answered) this.peers.succeeded(peer);
    // The peer turned out not to serve batches: the same blobs, one request each, at once.
    if (!this.batcher.supports(peer.name)) {
      await Promise.all(failures.filter(([t]) => this.tasks.get(t.blob.sha256) === t).map(([t]) => this.runSmall(t, peer, budget)));
      return;
    }
    for (const [task, e] of failures) {
      task.offset = 0;
      if (this.stop.signal.aborted || this.tasks.get(task.blob.sha256) !== task) continue;
      await this.failed(task, peer, e);
    }
  }

  /**
   * The one way a verified blob becomes visible, whichever lane fetched it: `commit` joins the
   * store's next group-commit round (with the record that forgets its partial, when it had
   * one), off the transfer's slot, so the lane keeps fetching while a round appends and
   * fsyncs. Then the task ends, or fails like an attempt (STORE_IO).
   */
  private commitVerified(task: Task, peer: Peer, commit: (extra: readonly BatchOp[]) => Promise<void>, detail: { resumedFrom?: number } = {}): void {
    const sha = task.blob.sha256;
    task.notFoundSince = undefined;
    task.state = 'verifying';
    const large = detail.resumedFrom !== undefined;
    commit([]).then(
      () => {
        this.d.metrics.replicationLag.observe(Math.max(0, (Date.now() - task.blob.approvedAtMs) / 1000));
        if (this.tasks.get(sha) === task) this.tasks.delete(sha);
        this.errors.clear(sha);
        const fields = { sha256: sha, size: task.blob.size, packages: task.blob.packages, peer: peer.name };
        if (large) this.log.info({ ...fields, resumedFrom: detail.resumedFrom }, 'blob stored');
        else {
          this.relays.stored(sha);
          this.log.debug(fields, 'blob stored');
        }
      },
      (err: unknown) => {
        if (!large) task.offset = 0;
        void this.failed(task, peer, toSluiceError(err, `committing blob ${sha.slice(0, 12)}…`, 'STORE_IO'));
      },
    );
  }

  /** A verified small blob, committed from memory into a pack file with the rest of its round. */
  private commitSmall(task: Task, peer: Peer, data: Buffer): void {
    this.commitVerified(task, peer, (extra) => this.d.store.commit([this.d.store.stageBuffer(task.blob.sha256, data)], extra));
  }

  /** Counts a failed attempt and schedules the next one with backoff. */
  private async failed(task: Task, peer: Peer, e: SluiceError): Promise<void> {
    const sha = task.blob.sha256;
    if (this.stop.signal.aborted || this.tasks.get(sha) !== task) return;
    task.attempts++;
    task.lastError = { code: e.code, message: e.message, at: new Date().toISOString() };
    this.errors.note(e, sha, `blob ${sha.slice(0, 12)}… (${task.blob.packages.join(', ')})`);
    // A sibling that could not give the blob is not asked again: the lease or the upstream is.
    if (this.d.site && this.d.topology.nodes.get(peer.name)?.site === this.d.spec.site && peer.name !== this.d.spec.name) task.avoidSibling = peer.name;
    if (e.code === 'HASH_MISMATCH') this.d.metrics.hashMismatch.inc();
    const tls = tlsErrorCode(e.cause);
    if (tls) this.d.metrics.tlsHandshakeFailures.inc({ reason: tlsFailureReason(tls) });
    this.d.metrics.transferRetries.inc();
    const verdict = judgeFailure(e, task.attempts, task.notFoundSince, Date.now(), this.d.tuning);
    task.notFoundSince = verdict.notFoundSince;
    if (verdict.blamePeer) {
      this.peers.failed(peer, e.code);
      // Failed over: the next peer gets its own time before a 404 is its fault.
      if (e.code === 'BLOB_NOT_FOUND' && this.peers.current().name !== peer.name) task.notFoundSince = undefined;
    }
    task.rateBytesPerSec = 0;
    const delay = verdict.retryInMs;
    if (delay === undefined) {
      // Tried again when the catalog next changes (refresh recreates the task).
      this.tasks.delete(sha);
      this.log.warn({ sha256: sha, code: e.code }, `transfer failed and will not be retried until the catalog changes: ${e.message}`);
      return;
    }
    task.state = 'waiting';
    this.log.debug({ sha256: sha, code: e.code, attempt: task.attempts, delayMs: delay }, 'transfer failed; retrying');
    task.retryTimer = setTimeout(() => this.enqueue(task), delay);
  }

  /** Blobs a peer has answered 404 for longer than `missingAfterMs`: withheld or lost upstream. */
  missing(now = Date.now()): { sha256: string; packages: readonly string[]; peer: string; since: string }[] {
    const out: { sha256: string; packages: readonly string[]; peer: string; since: string }[] = [];
    for (const t of this.tasks.values()) {
      if (t.notFoundSince === undefined || now - t.notFoundSince < this.d.tuning.missingAfterMs) continue;
      out.push({ sha256: t.blob.sha256, packages: t.blob.packages, peer: t.peer ?? this.peers.current().name, since: new Date(t.notFoundSince).toISOString() });
    }
    return out;
  }
}

