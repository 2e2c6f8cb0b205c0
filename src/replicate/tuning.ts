import type { DownloadTuning } from '../download/tuning.js';

/**
 * Timing and concurrency of a node (the downloader's among them), with their defaults in one
 * place. Tests shorten them; operators rarely need to (see the README's table).
 */
export interface ReplicationTuning extends DownloadTuning {
  /** Long-poll wait asked of the upstream, seconds. @defaultValue 30 */
  readonly longPollSec: number;
  /** Catalog records per page. @defaultValue 5000 */
  readonly catalogPage: number;
  /** Consecutive failures before an upstream is considered offline. @defaultValue 3 */
  readonly peerFailures: number;
  /** While on a fallback, how often the preferred upstream is probed. @defaultValue 30 s */
  readonly probeMs: number;
  /** Status pushed to the upstream this often. @defaultValue 5 s */
  readonly statusPushMs: number;
  /** A child's status older than this is shown as stale. @defaultValue 60 s */
  readonly statusStaleMs: number;
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
