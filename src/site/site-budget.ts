import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateBudget } from '../schedule/rate-budget.js';
import type { Site } from '../topology/types.js';
import type { RedisLink } from './redis-link.js';

/**
 * The ingress budget of a node that shares its site's WAN link with siblings: every chunk is
 * taken from a counter in the site's Redis (rate-limiter-flexible, one-second windows, one
 * key per site and rate), so the siblings together stay within the site's rate; then from
 * the node's own paced budget, which smooths the bursts a window allows. While Redis is
 * unreachable each node keeps to 1/N of the rate (N siblings), so the sum never exceeds it.
 */
export class SiteBudget implements RateBudget {
  private limiter: { rate: number; shared: RateLimiterRedis } | undefined;

  constructor(
    /** The node's schedule budget: its rate is the site's rate. */
    private readonly local: RateBudget,
    private readonly site: Site,
    private readonly link: RedisLink,
  ) {}

  get rateBytesPerSec(): number {
    return this.local.rateBytesPerSec;
  }

  /** This node's part of the rate while Redis is unreachable. */
  get fallbackShare(): number {
    return 1 / Math.max(1, this.site.members.length);
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const rate = this.local.rateBytesPerSec;
    // Unlimited, or paused (the local budget waits for the window): nothing to share.
    if (rate === Infinity || rate === 0) return this.local.take(bytes, signal);
    const limiter = this.limiterFor(rate);
    for (;;) {
      signal?.throwIfAborted();
      try {
        await limiter.consume(`${this.site.name}:${rate}`, Math.min(bytes, rate));
        break;
      } catch (rejected) {
        if (!(rejected instanceof RateLimiterRes)) throw rejected;
        await delay(Math.max(5, rejected.msBeforeNext), signal);
      }
    }
    await this.local.take(bytes, signal);
  }

  private limiterFor(rate: number): RateLimiterRedis {
    if (this.limiter?.rate === rate) return this.limiter.shared;
    const shared = new RateLimiterRedis({
      storeClient: this.link.client,
      keyPrefix: 'sluice-site-ingress',
      points: Math.floor(rate),
      duration: 1,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: 'sluice-site-ingress-local', points: Math.max(1, Math.floor(rate * this.fallbackShare)), duration: 1 }),
    });
    this.limiter = { rate, shared };
    return shared;
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
