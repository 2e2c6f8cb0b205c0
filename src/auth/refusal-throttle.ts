import { RateLimiterMemory } from 'rate-limiter-flexible';
import { SluiceError } from '../errors.js';

/** Wrong credentials one source address may present per window before it is refused outright. */
export const REFUSALS_PER_WINDOW = 10;
export const REFUSAL_WINDOW_SECONDS = 60;

/** What was refused, for the log line and the metric label. */
export type CredentialKind = 'admin' | 'endpoint' | 'peer';

/**
 * Slows token guessing: each wrong or missing credential counts against the source address;
 * past REFUSALS_PER_WINDOW in a window every call from that address is answered 429 without
 * looking at its token until the window ends (rate-limiter-flexible's memory limiter: one
 * entry per address, dropped when its window ends, so memory follows the addresses refused in
 * the last minute). The first refusal of a window and the start of a block are logged, so a
 * guessing run leaves two lines, not thousands.
 */
export class RefusalThrottle {
  private readonly limiter = new RateLimiterMemory({ points: REFUSALS_PER_WINDOW, duration: REFUSAL_WINDOW_SECONDS });

  constructor(
    private readonly log: (fields: Record<string, unknown>, message: string) => void,
    private readonly count: (kind: CredentialKind) => void,
  ) {}

  /** Throws 429 TOO_MANY_ATTEMPTS while `source` is blocked; `retryAfter` receives the seconds left. */
  async check(source: string, retryAfter: (seconds: number) => void): Promise<void> {
    const res = await this.limiter.get(source);
    if (!res || res.consumedPoints < REFUSALS_PER_WINDOW) return;
    const seconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    retryAfter(seconds);
    throw new SluiceError('TOO_MANY_ATTEMPTS', `too many refused credentials from ${source}; try again in ${seconds} s with the right token`);
  }

  /** Counts a refusal of `kind` from `source` (and logs it when it is news). */
  async refused(source: string, kind: CredentialKind, url: string, reason: string): Promise<void> {
    this.count(kind);
    const res = await this.limiter.penalty(source, 1);
    if (res.consumedPoints === 1) this.log({ source, kind, url, reason }, `refused ${kind} credentials from ${source}: ${reason}`);
    else if (res.consumedPoints === REFUSALS_PER_WINDOW) this.log({ source, kind, url }, `${source} presented ${REFUSALS_PER_WINDOW} wrong ${kind} credentials within ${REFUSAL_WINDOW_SECONDS} s; refusing its calls until the window ends`);
  }
}
