import type { CatalogLog } from './catalog-log.js';
import { headSignedBy } from './head.js';
import { CatalogRejected, type VerifiedPage } from './verify-page.js';

/**
 * How far catalog records may be staged ahead of a head that cannot be checked yet (one not
 * signed by a key of the root in force: a rotation further on may vouch for it, or it is
 * forged). The names are those of the replication tuning, which carries the defaults.
 */
export interface UnverifiedBounds {
  readonly unverifiedMaxRecords: number;
  readonly unverifiedMaxBytes: number;
  readonly unverifiedMaxMs: number;
}

/**
 * One run of catalog pages from one peer that has not reached a verified head yet: the
 * follower of every node and `sluice recover` stage through it, so a peer answering "more"
 * for ever is given up after the same bounded run of records, bytes and time wherever it is
 * met. Staging may run ahead as far as a head the root in force signs allows (verifyPage
 * refuses records beyond it); under any other head, past a bound, the run is refused.
 */
export class UnverifiedRun {
  private bytes = 0;

  constructor(
    readonly peer: string,
    private readonly sinceMs: number,
    private readonly bounds: UnverifiedBounds,
  ) {}

  /**
   * Call with each page that does not reach its head, before its records are staged: throws
   * CatalogRejected('unverified') when staging it would take the run past a bound, so what
   * is staged never exceeds them.
   */
  admit(page: VerifiedPage, pageBytes: number, at: number, log: Pick<CatalogLog, 'seq' | 'receivedTip'>): void {
    this.bytes += pageBytes;
    if (headSignedBy(page.head, log.receivedTip.root.catalogKeys)) return;
    const { unverifiedMaxRecords, unverifiedMaxBytes, unverifiedMaxMs } = this.bounds;
    const records = log.receivedTip.seq + page.records.length - log.seq;
    if (records > unverifiedMaxRecords || this.bytes > unverifiedMaxBytes || at - this.sinceMs > unverifiedMaxMs) {
      throw new CatalogRejected('unverified', `${this.peer} sent ${records} catalog records (${Math.round(this.bytes / 1024)} KiB over ${Math.round((at - this.sinceMs) / 1000)} s) under a head that no key of the root in force signed, without reaching a verified head; discarded`);
    }
  }
}
