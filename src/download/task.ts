import type { TransferState } from '../domain/labels.js';
import type { Want } from './want.js';

/** What status, progress and the forecast read of a transfer. */
export interface TransferView {
  readonly want: Want;
  readonly state: TransferState;
  readonly attempts: number;
  /** Bytes of the blob held (resumed offset + received). */
  readonly offset: number;
  readonly rateBytesPerSec: number;
  /** Where the last attempt went (a node's name, `feed:NAME`). */
  readonly route: string | undefined;
  readonly lastError: { code: string; message: string; at: string } | undefined;
  /** Since when the source has answered 404 for this blob (undefined: it has not). */
  readonly notFoundSince: number | undefined;
}

/** How often the rate of a transfer is sampled. */
const RATE_SAMPLE_MS = 1000;

/** One wanted blob on its way in: its state between attempts, and the attempt running now. */
export class Task implements TransferView {
  state: TransferState = 'queued';
  attempts = 0;
  rateBytesPerSec = 0;
  route: string | undefined;
  lastError: { code: string; message: string; at: string } | undefined;
  notFoundSince: number | undefined;
  /** A sibling that failed to give this blob (down, or no longer holding it): not asked again by this task. */
  avoid: string | undefined;
  /** The source said it is fetching the blob itself (BLOB_PENDING): on its way, not failing. */
  sourcePending = false;
  /** No longer wanted: what its attempt held is dropped, not kept for a resume. */
  withdrawn = false;
  retryTimer: NodeJS.Timeout | undefined;
  private controller: AbortController | undefined;
  private sample: { at: number; offset: number };

  constructor(
    readonly want: Want,
    /** Bytes held (a partial kept from before a restart counts from the start). */
    public offset: number,
    now: number,
  ) {
    this.sample = { at: now, offset };
  }

  get critical(): boolean {
    return this.want.severity === 'critical';
  }

  /** An attempt (or the wait of a pause) starts: its signal, aborted by `cancel`. */
  begin(): AbortController {
    this.controller = new AbortController();
    return this.controller;
  }

  /** The attempt of `controller` is over. */
  end(controller: AbortController): void {
    if (this.controller === controller) this.controller = undefined;
  }

  /** Stops whatever runs: the attempt, the wait of a pause, the timer of a retry. */
  cancel(): void {
    clearTimeout(this.retryTimer);
    this.controller?.abort();
  }

  /** The attempt resumes from `offset` bytes already held. */
  resumedAt(offset: number, now: number): void {
    this.offset = offset;
    this.sample = { at: now, offset };
  }

  /** `n` more bytes arrived; the rate is sampled once a second. */
  received(n: number, now: number): void {
    this.offset += n;
    if (now - this.sample.at < RATE_SAMPLE_MS) return;
    this.rateBytesPerSec = ((this.offset - this.sample.offset) * 1000) / (now - this.sample.at);
    this.sample = { at: now, offset: this.offset };
  }

  /** Held by a closed window with `offset` bytes: no rate until it resumes. */
  paused(offset: number): void {
    this.state = 'paused';
    this.offset = offset;
    this.rateBytesPerSec = 0;
  }
}
