/** Timing and concurrency of the downloader (a node's tuning extends it: replicate/tuning.ts). */
export interface DownloadTuning {
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
  /** Partial downloads untouched this long are dropped, wanted or not. @defaultValue 7 days */
  readonly partialTtlMs: number;
  /**
   * How often unwanted blobs are looked for (deleted once past policy.grace), and partial
   * downloads nobody wants any more (dropped at once). @defaultValue 60 s
   */
  readonly gcEveryMs: number;
}
