/**
 * Timing and concurrency of replication, with their defaults in one place. Tests shorten
 * them; operators rarely need to (see the README's table).
 */
export interface ReplicationTuning {
  /** Long-poll wait asked of the upstream, seconds. @defaultValue 30 */
  readonly longPollSec: number;
  /** Catalog records per page. @defaultValue 5000 */
  readonly catalogPage: number;
  /** Retry delays: exponential from the floor, capped, with full jitter. @defaultValue 500 ms / 60 s */
  readonly backoffFloorMs: number;
  readonly backoffCapMs: number;
  /** No byte for this long while waiting on the network aborts a transfer. @defaultValue 30 s */
  readonly stallMs: number;
  /**
   * A partial file is fsynced and its offset recorded at least this often. A process crash
   * resumes from the file's length anyway; this bounds what a power loss costs. Measured
   * here: fsync every 8 MiB made writing 4× slower than every 32 MiB. @defaultValue 64 MiB / 5 s
   */
  readonly checkpointBytes: number;
  readonly checkpointMs: number;
  /** Consecutive failures before an upstream is considered offline. @defaultValue 3 */
  readonly peerFailures: number;
  /** While on a fallback, how often the preferred upstream is probed. @defaultValue 30 s */
  readonly probeMs: number;
  /** Concurrent transfers of blobs up to `smallBlobBytes`, and of larger ones. @defaultValue 16 and 2 */
  readonly smallConcurrency: number;
  readonly largeConcurrency: number;
  /**
   * Concurrent transfers of blobs small enough for pack files (32 KiB): they cross a hop 64 per
   * request, so four batches can be in flight while earlier ones are hashed and committed (64:
   * one at a time, 3.8-3.9k blobs/s in the small-blobs bench; 256: 4.5-4.8k; 512 and 1,024:
   * no better); at most 8 MiB in memory. @defaultValue 256
   */
  readonly packedConcurrency: number;
  /** Concurrent transfers of critical packages, in slots of their own. @defaultValue 2 */
  readonly criticalConcurrency: number;
  /**
   * A peer that answers 404 for a wanted blob this long counts as failing for it (withheld,
   * lost, misconfigured), so the node fails over to a fallback. @defaultValue 10 min
   */
  readonly missingAfterMs: number;
  /** Free space kept beyond what running transfers need before another one starts. @defaultValue 64 MiB */
  readonly diskReserveBytes: number;
  /** Blobs up to this size use the small-blob lane, so they never wait behind a huge one. @defaultValue 8 MiB */
  readonly smallBlobBytes: number;
  /** Status pushed to the upstream this often. @defaultValue 5 s */
  readonly statusPushMs: number;
  /** A child's status older than this is shown as stale. @defaultValue 60 s */
  readonly statusStaleMs: number;
  /** Partial files untouched this long are removed at start-up. @defaultValue 7 days */
  readonly partialTtlMs: number;
  /** How often unwanted blobs are looked for (deleted once past policy.grace). @defaultValue 60 s */
  readonly gcEveryMs: number;
  /** On the primary, how often the rings' promotion gates read the reports. @defaultValue 60 s */
  readonly promoteEveryMs: number;
  /**
   * Catalog records an upstream may send ahead of a head this node can check (a head not
   * signed by a key of the root in force: one a rotation further on will vouch for, or a
   * forgery), before the sync counts as failing and the records are discarded.
   * @defaultValue 100,000 records / 64 MiB / 10 min
   */
  readonly unverifiedMaxRecords: number;
  readonly unverifiedMaxBytes: number;
  readonly unverifiedMaxMs: number;
}

export const DEFAULT_TUNING: ReplicationTuning = Object.freeze({
  promoteEveryMs: 60_000,
  longPollSec: 30,
  catalogPage: 5000,
  backoffFloorMs: 500,
  backoffCapMs: 60_000,
  stallMs: 30_000,
  checkpointBytes: 64 * 1024 * 1024,
  checkpointMs: 5000,
  peerFailures: 3,
  probeMs: 30_000,
  smallConcurrency: 16,
  largeConcurrency: 2,
  packedConcurrency: 256,
  smallBlobBytes: 8 * 1024 * 1024,
  criticalConcurrency: 2,
  missingAfterMs: 10 * 60_000,
  diskReserveBytes: 64 * 1024 * 1024,
  statusPushMs: 5000,
  statusStaleMs: 60_000,
  partialTtlMs: 7 * 86_400_000,
  gcEveryMs: 60_000,
  unverifiedMaxRecords: 100_000,
  unverifiedMaxBytes: 64 * 1024 * 1024,
  unverifiedMaxMs: 10 * 60_000,
});
