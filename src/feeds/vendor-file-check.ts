import type { BytesFrom } from '../download/want.js';
import { SluiceError, toSluiceError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Feed } from '../topology/types.js';
import type { FeedState, VerifiedRpmFile } from './feed-state.js';
import { loadKeyring, type Keyring } from './openpgp-signature.js';
import { rpmVersionOf } from './primary-index.js';
import { TAG, type RpmHead } from './rpm-header.js';
import { verifyRpmPackage } from './rpm-signature.js';

/** What the catalog says a vendor file is: the package id that lists it and the file's architecture. */
export interface ListedAs {
  /** `name@[epoch:]version-release`. */
  readonly id: string;
  readonly name: string;
  readonly version: string;
  /** The file's platform, `noarch` when it has none. */
  readonly arch: string;
}

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
    /** Where a verified file's identity is kept (checkStored reads it rather than the file). */
    private readonly state?: Pick<FeedState, 'rpmVerified' | 'saveRpmVerified'>,
    private readonly now: () => number = Date.now,
  ) {
    for (const feed of feeds.values()) if (feed.type === 'rpm') metrics.feedPackagesRefused.inc({ feed: feed.name, code: 'FEED_PACKAGE_SIGNATURE' }, 0);
  }

  /**
   * Throws FEED_PACKAGE_SIGNATURE (or FEED_KEYRING) when the file `bytes` read, from feed
   * `feedName`, may not be stored: its signature does not verify, or its signed header is not
   * the package every catalog entry in `listedAs` says it is. The catalog's name and version
   * come from primary.xml, which a mirror may write where the vendor does not sign repomd.xml:
   * without this, a mirror could list a vendor-signed old openssl as the new one (or another
   * package under a trusted name), an approver would approve the id, and the ring would get
   * the other package.
   */
  async check(feedName: string, sha256: string, bytes: BytesFrom, what: string, listedAs: readonly ListedAs[]): Promise<void> {
    const feed = this.feeds.get(feedName);
    if (feed?.type !== 'rpm') return;
    await this.refusalsCounted(feed, what, async () => {
      const { head, signer } = await verifyRpmPackage(bytes, await this.keyringOf(feed), this.now(), what);
      const is = identityOf(head);
      checkListing(is, listedAs, what);
      await this.state?.saveRpmVerified(sha256, feed.name, { ...is, signer });
    });
  }

  /**
   * The same for a file already stored, as a ring's dnf repository lists it: one the check
   * passed before (for this feed) is compared with `listedAs` by the identity kept then; any
   * other (stored by a person's publish, or before this check existed) is checked whole now.
   * Whatever way a file entered the store, a ring lists it only as the package it is, signed.
   */
  async checkStored(feedName: string, sha256: string, bytes: BytesFrom, what: string, listedAs: readonly ListedAs[]): Promise<void> {
    const feed = this.feeds.get(feedName);
    if (feed?.type !== 'rpm') return;
    const known = await this.state?.rpmVerified(sha256, feed.name);
    // Checked whole again when the key that signed it has left the keyring (a vendor key
    // withdrawn after a compromise): what it signed is listed no more.
    if (!known || !signs(await this.keyringOf(feed), known.signer)) return this.check(feedName, sha256, bytes, what, listedAs);
    await this.refusalsCounted(feed, what, async () => checkListing(known, listedAs, what));
  }

  private async refusalsCounted(feed: Feed, what: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
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

/** The package a signed header names, as a catalog id and file write it. */
function identityOf(head: RpmHead): Omit<VerifiedRpmFile, 'signer'> {
  const h = head.header;
  return {
    name: h.string(TAG.NAME) ?? '',
    version: rpmVersionOf({ epoch: String(h.number(TAG.EPOCH) ?? 0), version: h.string(TAG.VERSION) ?? '', release: h.string(TAG.RELEASE) ?? '' }),
    arch: h.has(TAG.SOURCEPACKAGE) ? 'src' : (h.string(TAG.ARCH) ?? ''),
  };
}

/** The signed header names the package (name, epoch, version, release, arch) each listing says it is. */
function checkListing({ name, version, arch }: Omit<VerifiedRpmFile, 'signer'>, listedAs: readonly ListedAs[], what: string): void {
  for (const l of listedAs) {
    if (l.name === name && l.version === version && l.arch === arch) continue;
    throw new SluiceError(
      'FEED_PACKAGE_SIGNATURE',
      `${what}: its signed header is ${JSON.stringify(`${name}-${version}.${arch}`.slice(0, 200))}, but the feed's metadata listed it as ${l.id} (${l.arch}): a mirror relabelled a package the vendor signed (an older build as a newer one, or another package under this name); it was not stored. Use a mirror that is not altered, then decline ${l.id}`,
    );
  }
}

/** Whether a key (or subkey) of `keys` has fingerprint (or, for one the keyring did not name, key id) `signer`. */
function signs(keys: Keyring, signer: string): boolean {
  return keys.some((key) => [key, ...key.getSubkeys()].some((k) => k.getFingerprint().toUpperCase() === signer || k.getKeyID().toHex().toUpperCase() === signer));
}
