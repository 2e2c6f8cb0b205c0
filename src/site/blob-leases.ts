import type { Site } from '../topology/types.js';
import type { RedisLink } from './redis-link.js';

/** Where a sibling should take a blob from. */
export type FetchPlan =
  /** This node holds the lease: fetch from the upstream over the WAN, renewing the lease. */
  | { kind: 'lease'; lease: BlobLease }
  /** A sibling has it or is fetching it: copy from that sibling over the LAN. */
  | { kind: 'sibling'; node: string }
  /** Redis unreachable: fetch from the upstream without a lease (the blob may cross twice). */
  | { kind: 'alone' };

// Releases a lease only if this node still holds it.
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/** How long a sibling is remembered as holding a blob (siblings copy from it meanwhile). */
const HELD_TTL_SEC = 7 * 86_400;

/**
 * One sibling per site fetches each blob over the WAN: it takes a lease in the site's Redis
 * (SET NX with a time to live, renewed while it fetches); the others copy from it, even
 * while it is still receiving (its relay serves the bytes as they arrive, verified at the
 * end as always). A sibling that dies stops renewing; its lease lapses after the site's
 * `leaseTtl` and another takes it over, resuming from its own partial file.
 */
export class BlobLeases {
  constructor(
    private readonly site: Site,
    private readonly self: string,
    private readonly link: RedisLink,
  ) {}

  private key(kind: 'lease' | 'held', sha256: string): string {
    return `sluice:site:${this.site.name}:${kind}:${sha256}`;
  }

  /**
   * `avoid`: a sibling that already failed to give this blob (down, or it lost the blob):
   * its record of holding the blob is passed over (that record outlives the sibling), so
   * this node takes the lease and fetches from the upstream.
   */
  async plan(sha256: string, avoid?: string): Promise<FetchPlan> {
    if (!this.link.up) return { kind: 'alone' };
    try {
      const redis = this.link.client;
      const held = await redis.get(this.key('held', sha256));
      if (held && held !== this.self && held !== avoid && this.site.members.includes(held)) return { kind: 'sibling', node: held };
      const ttl = this.site.leaseTtlMs;
      if ((await redis.set(this.key('lease', sha256), this.self, 'PX', ttl, 'NX')) === 'OK') return { kind: 'lease', lease: new BlobLease(this, sha256, ttl) };
      const holder = await redis.get(this.key('lease', sha256));
      // Ours from before a restart: take it up again.
      if (holder === this.self || holder === null) {
        await redis.set(this.key('lease', sha256), this.self, 'PX', ttl);
        return { kind: 'lease', lease: new BlobLease(this, sha256, ttl) };
      }
      // A lease held by a sibling that failed us lapses within leaseTtl if it is dead; until
      // then it is asked again (it may only have been slow).
      return this.site.members.includes(holder) ? { kind: 'sibling', node: holder } : { kind: 'alone' };
    } catch {
      return { kind: 'alone' };
    }
  }

  /** Extends the lease; false when it was lost (expired and taken by another sibling). */
  async renew(sha256: string, ttlMs: number): Promise<boolean> {
    try {
      return (await this.link.client.eval(RENEW, 1, this.key('lease', sha256), this.self, String(ttlMs))) === 1;
    } catch {
      return false;
    }
  }

  /** Stored here: siblings copy from this node from now on; the lease is given back. */
  async release(sha256: string, stored: boolean): Promise<void> {
    try {
      if (stored) await this.link.client.set(this.key('held', sha256), this.self, 'EX', HELD_TTL_SEC);
      await this.link.client.eval(RELEASE, 1, this.key('lease', sha256), this.self);
    } catch {
      // Redis gone: the lease lapses by itself.
    }
  }

  /** This node no longer holds the blob (garbage collection, quarantine): siblings stop asking it. */
  async forget(sha256: string): Promise<void> {
    try {
      await this.link.client.eval(RELEASE, 1, this.key('held', sha256), this.self);
    } catch {
      // Redis gone: a sibling that asks gets 404 and plans again.
    }
  }
}

/** A held lease, renewed every third of its time to live until released. */
export class BlobLease {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly leases: BlobLeases,
    readonly sha256: string,
    ttlMs: number,
  ) {
    this.timer = setInterval(() => void leases.renew(sha256, ttlMs), Math.max(100, Math.floor(ttlMs / 3))).unref();
  }

  async release(stored: boolean): Promise<void> {
    clearInterval(this.timer);
    await this.leases.release(this.sha256, stored);
  }
}
