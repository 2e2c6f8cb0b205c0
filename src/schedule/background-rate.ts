/**
 * Background mode, after LEDBAT (RFC 6817): the node takes only the capacity nobody else is
 * using on the path to its upstream. Other machines' traffic cannot be seen from here, only
 * felt: it queues at the bottleneck ahead of ours, and the time a small request takes grows.
 * So the path's delay is sampled all along (`probe`: the time to the first byte of a tiny
 * request to the upstream, on its own connection), the lowest delay of the last 10 minutes
 * is the base (an empty queue), and the node's byte budget
 * - grows while the delay stays within TARGET of the base (faster the further below),
 * - shrinks at once, twice as fast, when the delay rises beyond it,
 * never below a floor that keeps transfers alive, never above the window's `max`.
 */

/** Queueing delay the node tolerates before it yields (LEDBAT allows up to 100 ms). */
export const TARGET_MS = 30;
const BASE_BUCKET_MS = 30_000;
const BASE_BUCKETS = 20;
/** Samples whose median is the current delay: one late answer is not congestion, one early one not relief. */
const CURRENT_SAMPLES = 3;
const FLOOR_BYTES_PER_SEC = 32 * 1024;
/** An unlimited window still needs a ceiling for the controller's arithmetic: 10 GB/s. */
const NO_CAP = 10e9;

export interface BackgroundState {
  readonly rateBytesPerSec: number;
  readonly baseDelayMs: number | null;
  readonly delayMs: number | null;
  /** Why the rate is what it is, in a few words. */
  readonly reason: string;
}

export class BackgroundRate {
  private rate: number;
  private readonly cap: number;
  private readonly floor: number;
  private readonly recent: number[] = [];
  /** Minimum delay per 30-second bucket, newest last. */
  private readonly bases: { start: number; min: number }[] = [];
  private reason = 'starting: no delay measured yet';
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    capBytesPerSec: number,
    /** The path's delay now, in ms (undefined: the upstream did not answer); given the rate, which the upstream then sends at. */
    private readonly probe: (rateBytesPerSec: number) => Promise<number | undefined>,
    /** Receives every new rate (the schedule's paced budget). */
    private readonly apply: (bytesPerSec: number) => void,
    private readonly everyMs = 200,
    private readonly now: () => number = Date.now,
  ) {
    this.cap = Number.isFinite(capBytesPerSec) ? capBytesPerSec : NO_CAP;
    this.floor = Math.min(this.cap, Math.max(FLOOR_BYTES_PER_SEC, this.cap / 100));
    // Start low and find out: a background transfer must not be the one that fills the queue.
    this.rate = Math.min(this.cap, Math.max(this.floor, 256 * 1024));
    this.apply(this.rate);
  }

  start(): void {
    const tick = async () => {
      if (!this.probing) {
        this.probing = true;
        try {
          const ms = await this.probe(this.rate);
          if (ms !== undefined) this.sample(ms);
        } finally {
          this.probing = false;
        }
      }
      if (this.timer !== undefined) this.timer = setTimeout(() => void tick(), this.everyMs).unref();
    };
    this.timer = setTimeout(() => void tick(), 0).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get state(): BackgroundState {
    return { rateBytesPerSec: this.rate, baseDelayMs: this.base(), delayMs: this.current(), reason: this.reason };
  }

  /** One delay sample: updates the base, the current delay and the rate. */
  sample(delayMs: number): void {
    const t = this.now();
    const last = this.bases[this.bases.length - 1];
    if (!last || t - last.start >= BASE_BUCKET_MS) {
      this.bases.push({ start: t, min: delayMs });
      if (this.bases.length > BASE_BUCKETS) this.bases.shift();
    } else last.min = Math.min(last.min, delayMs);
    this.recent.push(delayMs);
    if (this.recent.length > CURRENT_SAMPLES) this.recent.shift();
    const queueing = this.current()! - this.base()!;
    const off = Math.max(-2, Math.min(1, (TARGET_MS - queueing) / TARGET_MS));
    const before = this.rate;
    // In proportion to how far the queue is from the target, as LEDBAT does, so the rate
    // settles where the queue holds near the target: up by up to 5% of the max a sample, down
    // by up to 10% while the queue is within three times the target. Larger steps near the target
    // overshoot: the delay is seen a sample or two late, so the rate kept falling after the
    // queue had drained and the link went unused (measured on the emulated link: up to 20% down
    // gave 76-86% of an idle link, 10% gives 87-92%).
    // A queue past three times the target is someone else's transfer: yield a quarter of the
    // max a sample (from the max to the floor in about a second).
    if (off >= 0) {
      this.rate = Math.min(this.cap, this.rate + 0.05 * off * this.cap + this.floor * 0.05);
      this.reason = this.rate >= this.cap ? `at the window's max; delay ${Math.round(queueing)} ms over base` : `delay ${Math.round(queueing)} ms over base (target ${TARGET_MS} ms): taking more`;
    } else {
      // Others are queueing behind us (or we behind them): yield at once.
      this.rate = Math.max(this.floor, this.rate - (off <= -2 ? 0.25 : 0.05 * -off) * this.cap);
      this.reason = `delay ${Math.round(queueing)} ms over base (target ${TARGET_MS} ms): yielding`;
    }
    if (this.rate !== before) this.apply(this.rate);
  }

  private base(): number | null {
    return this.bases.length ? Math.min(...this.bases.map((b) => b.min)) : null;
  }

  /** The median of the last samples: one late or early answer moves nothing. */
  private current(): number | null {
    if (!this.recent.length) return null;
    const sorted = [...this.recent].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }
}
