import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { SluiceError } from '../errors.js';

/** Sign-ins with the identity provider one source address may begin per window. */
export const SIGN_IN_STARTS_PER_WINDOW = 20;
export const SIGN_IN_START_WINDOW_SECONDS = 60;

/**
 * Beginning a sign-in with the identity provider needs no credential and takes a place in
 * the store of sign-ins in progress, so each source address may begin only so many per
 * window; past them it is answered 429 until the window ends. The same memory limiter as
 * refusal-throttle.ts: one entry per address, dropped when its window ends. The start of a
 * block is logged once, so a flood leaves one line, not thousands.
 */
export class SignInStarts {
  private readonly limiter = new RateLimiterMemory({ points: SIGN_IN_STARTS_PER_WINDOW, duration: SIGN_IN_START_WINDOW_SECONDS });

  constructor(private readonly log: (fields: Record<string, unknown>, message: string) => void) {}

  /** Counts a sign-in begun from `source`; throws 429 TOO_MANY_ATTEMPTS past the limit, `retryAfter` receiving the seconds left. */
  async begin(source: string, retryAfter: (seconds: number) => void): Promise<void> {
    try {
      await this.limiter.consume(source);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const seconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      if (res.consumedPoints === SIGN_IN_STARTS_PER_WINDOW + 1) this.log({ source }, `${source} began ${SIGN_IN_STARTS_PER_WINDOW} sign-ins with the identity provider within ${SIGN_IN_START_WINDOW_SECONDS} s; refusing more until the window ends`);
      retryAfter(seconds);
      throw new SluiceError('TOO_MANY_ATTEMPTS', `too many sign-ins begun from ${source}; finish the one in progress, or try again in ${seconds} s`);
    }
  }
}
