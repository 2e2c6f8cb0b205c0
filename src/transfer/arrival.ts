import type { BlobStore, Download } from '../store/blob-store.js';
import type { BatchOp } from '../store/meta-db.js';
import type { LiveRelays } from './live-relays.js';
import { LiveTransfer } from './live-transfer.js';

/** A site lease on a blob (site/blob-leases.ts), as an arrival holds it. */
export interface HeldLease {
  release(stored: boolean): Promise<void>;
}

/**
 * One large blob on its way in, from the moment this node owns its partial file to the end
 * of its commit: the partial (one owner per blob), the live relay children may read from
 * while it arrives, and the site lease when siblings share the WAN. `release` gives all of
 * them back, once, whatever happened; `commit` hands the verified file to the store and
 * releases when the commit has ended, so the relay stays readable until the file is in place.
 */
export class Arrival {
  readonly relay: LiveTransfer;
  private released = false;

  private constructor(
    readonly partial: Download,
    private readonly relays: LiveRelays,
    private readonly lease: HeldLease | undefined,
  ) {
    this.relay = new LiveTransfer(partial);
  }

  /**
   * Owns blob `sha256`'s partial file (waiting while an earlier attempt's commit still holds
   * it). If that fails, the lease is given back here: the caller has nothing to release.
   */
  static async acquire(store: BlobStore, relays: LiveRelays, sha256: string, size: number, signal: AbortSignal, lease: HeldLease | undefined): Promise<Arrival> {
    try {
      return new Arrival(await store.openDownload(sha256, size, signal), relays, lease);
    } catch (err) {
      void lease?.release(false);
      throw err;
    }
  }

  /** Bytes up to `written` are in the partial file: children may be relayed them. */
  progress(written: number): void {
    this.relays.announce(this.relay);
    this.relay.progress(written);
  }

  /** The whole file hashed to its sha256: relays waiting on the last bytes may complete. */
  verified(): void {
    this.relay.verified();
  }

  /** Commits the verified file (with `extra` records) and releases everything once the commit ends. */
  async commit(extra: readonly BatchOp[]): Promise<void> {
    try {
      await this.partial.commit(extra);
      this.release(true);
    } catch (err) {
      this.release(false);
      throw err;
    }
  }

  /** Ends the relay (complete only if `stored`), gives the partial and the lease back. Idempotent. */
  release(stored: boolean): void {
    if (this.released) return;
    this.released = true;
    this.relays.end(this.relay);
    this.relay.finish(stored);
    if (stored) this.relays.stored(this.relay.sha256);
    this.partial.release();
    void this.lease?.release(stored);
  }
}
