import type { BytesFrom } from '../download/want.js';
import { toSluiceError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Feed } from '../topology/types.js';
import { loadKeyring, type Keyring } from './openpgp-signature.js';
import { verifyRpmPackage } from './rpm-signature.js';

/**
 * What a vendor file must pass, beyond its sha256, before the primary stores it: for an RPM
 * feed, the package's own signature by a key of the feed's keyring (dnf's gpgcheck, done at
 * head office), so nothing unsigned or signed by someone else reaches any node, whatever the
 * vendor's metadata said. An APT feed's files need nothing more: their sha256 comes from an
 * index the vendor signed. Called by the downloader (the vendor's URL source's check) once a
 * file's bytes hashed to the catalog's sha256 and before they are stored or relayed whole; a
 * refusal is counted per feed and error code.
 */
export class VendorFileChecks {
  private readonly keyrings = new Map<string, Promise<Keyring>>();

  constructor(
    private readonly feeds: ReadonlyMap<string, Feed>,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {
    for (const feed of feeds.values()) if (feed.type === 'rpm') metrics.feedPackagesRefused.inc({ feed: feed.name, code: 'FEED_PACKAGE_SIGNATURE' }, 0);
  }

  /** Throws FEED_PACKAGE_SIGNATURE (or FEED_KEYRING) when the file `bytes` read, from feed `feedName`, may not be stored. */
  async check(feedName: string, bytes: BytesFrom, what: string): Promise<void> {
    const feed = this.feeds.get(feedName);
    if (feed?.type !== 'rpm') return;
    try {
      await verifyRpmPackage(bytes, await this.keyringOf(feed), this.now(), what);
    } catch (err) {
      const e = toSluiceError(err, what, 'FEED_PACKAGE_SIGNATURE');
      this.metrics.feedPackagesRefused.inc({ feed: feed.name, code: e.code });
      throw e;
    }
  }

  private keyringOf(feed: Feed): Promise<Keyring> {
    let keys = this.keyrings.get(feed.name);
    if (!keys) {
      keys = loadKeyring(feed.keyringPath);
      // A keyring fixed on disk is read again at the next file.
      keys.catch(() => this.keyrings.delete(feed.name));
      this.keyrings.set(feed.name, keys);
    }
    return keys;
  }
}
