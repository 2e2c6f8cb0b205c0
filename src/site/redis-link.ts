import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.js';

/**
 * ioredis is loaded by the nodes that share a site, when they connect: it adds about 20 MiB
 * to a process, and a tree of a hundred nodes on one machine pays it a hundred times.
 */
const loadIoredis = (): typeof import('ioredis') => createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

/**
 * The connection a node keeps to its site's Redis. Commands never queue while it is down
 * (they fail at once, so callers fall back); it reconnects by itself, every second at most.
 * `up` says whether it is usable now; each change is logged once.
 */
export class RedisLink {
  readonly client: Redis;
  private wasUp: boolean | undefined;

  constructor(
    url: string,
    private readonly log: Logger,
    private readonly onChange: (up: boolean) => void = () => {},
  ) {
    const { Redis: RedisClient } = loadIoredis();
    this.client = new RedisClient(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      commandTimeout: 2000,
      retryStrategy: (times) => Math.min(1000, 50 * times),
      lazyConnect: false,
    });
    this.client.on('ready', () => this.changed(true));
    this.client.on('end', () => this.changed(false));
    this.client.on('close', () => this.changed(false));
    // Errors surface through `up` and the callers' fallbacks; the event must be handled.
    this.client.on('error', (err: Error) => this.log.debug({ err: err.message }, 'redis error'));
  }

  get up(): boolean {
    return this.client.status === 'ready';
  }

  private changed(up: boolean): void {
    if (up === this.wasUp) return;
    this.wasUp = up;
    if (up) this.log.info('site Redis reachable: the budget and blob leases are shared with the siblings');
    else this.log.warn('site Redis unreachable: using this node\'s share of the site budget, and fetching blobs without leases');
    this.onChange(up);
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
