import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import { retiredBlobs } from '../catalog/retention.js';

/**
 * On the primary, with `policy.retainSuperseded`: deletes the files of packages superseded (or
 * declined) for that long, which no kept package names (retention.ts). Checked at start and then
 * several times per retention period (at most hourly); downstream nodes drop such files on
 * their own, after `policy.grace`.
 */
export class SupersededRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly catalog: CatalogLog,
    private readonly store: BlobStore,
    private readonly retainMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    const everyMs = Math.max(1000, Math.min(this.retainMs / 4, 3_600_000));
    this.sweepSoon();
    this.timer = setInterval(() => this.sweepSoon(), everyMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One sweep at a time; a failure is logged and the next period tries again. */
  private sweepSoon(): void {
    this.running = this.running.then(() => this.sweep()).catch((err: unknown) => this.log.error({ err }, 'retention sweep failed; trying again next period'));
  }

  private async sweep(): Promise<void> {
    let files = 0;
    let bytes = 0;
    for (const sha of retiredBlobs(this.catalog.state, this.retainMs, Date.now())) {
      const size = this.store.sizeOf(sha);
      if (size === undefined) continue;
      await this.store.remove(sha);
      this.metrics.blobsRetired.inc();
      files++;
      bytes += size;
    }
    if (files) this.log.info({ files, bytes }, 'files of superseded or declined packages deleted (policy.retainSuperseded)');
  }
}
