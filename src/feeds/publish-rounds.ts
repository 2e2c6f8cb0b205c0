import type { CatalogLog } from '../catalog/catalog-log.js';
import type { Logger } from '../log/logger.js';

/** Waits this long after a catalog change before building, so an approval burst makes one index. */
const SETTLE_MS = 300;

/**
 * The rounds a publisher of the rings' repositories (APT indexes, dnf repositories) runs on
 * the primary: one round at a time, each building every ring from the catalog as it is then;
 * the next one when a record is appended, when a file the primary was waiting for is stored
 * (`wake`), or after `waitMs`. The round's own index records change nothing and start no
 * round, but a record anyone else appended while a round ran starts the next one at once, so
 * an approval made during a round is never left to the next record or the timer.
 */
export class PublishRounds {
  private running: Promise<void> | undefined;
  private readonly stop = new AbortController();
  /** Index records the current round appended. */
  private ownRecords = 0;
  /** Ends the wait between two rounds. */
  private woken: (() => void) | undefined;

  constructor(
    private readonly o: {
      readonly catalog: CatalogLog;
      readonly log: Logger;
      /** What a round builds, for its log line ("an APT index"). */
      readonly what: string;
      readonly round: () => Promise<void>;
      /** How long to wait for a reason to run again. */
      readonly waitMs: () => number;
    },
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  /** A file this primary was waiting for is stored: the next round runs now. */
  wake(): void {
    this.woken?.();
  }

  /** The round appended `count` index records of its own. */
  appended(count: number): void {
    this.ownRecords += count;
  }

  /** Where the wait after a round starts: past the round's own records, or from the round's start when anyone else appended meanwhile. */
  private nextWaitFrom(startSeq: number): number {
    const others = this.o.catalog.seq - startSeq - this.ownRecords;
    this.ownRecords = 0;
    return others > 0 ? startSeq : this.o.catalog.seq;
  }

  private async loop(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const seq = this.o.catalog.seq;
      try {
        await this.o.round();
      } catch (err) {
        if (!signal.aborted) this.o.log.error({ err: (err as Error).message }, `building ${this.o.what} failed; retrying after the next catalog change`);
      }
      const stored = new Promise<void>((resolve) => (this.woken = resolve));
      await Promise.race([this.o.catalog.waitForRecords(this.nextWaitFrom(seq), this.o.waitMs(), signal), stored]);
      this.woken = undefined;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS).unref());
    }
  }
}
