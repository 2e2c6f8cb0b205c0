import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SEVERITIES } from '../domain/severity.js';
import { canonicalJson } from './canonical-json.js';
import { signedRootSchema } from './root.js';

/**
 * The catalog is an append-only log of these records. Each carries its sequence number and
 * the hash of the record before it; `hash` is sha256 over the canonical JSON of the record
 * without `hash`. Changing, dropping, inserting or re-ordering any record breaks the chain.
 */

export const GENESIS_HASH = '0'.repeat(64);
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
/**
 * `name@version`; names and versions are what package managers commonly allow. Debian
 * versions are taken as they are: an epoch (`1:2.3-4`), `~` and `+` included; so are RPM
 * ones (`[epoch:]version-release`), whose snapshots sort with `^` (Fedora's `0^20240101git…`).
 */
export const PACKAGE_NAME_PATTERN = /^[a-z0-9][a-z0-9._+-]{0,127}$/i;
export const PACKAGE_VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+_~^:-]{0,127}$/;
export const RING_ALL = 'all';

const sha256 = z.string().regex(SHA256_PATTERN);
const packageId = z.string().refine((s) => parsePackageId(s) !== undefined, 'expected name@version');

export const fileEntrySchema = z
  .object({
    name: z.string().min(1).max(255),
    size: z.number().int().nonnegative(),
    sha256,
    platform: z.string().max(64).optional(),
    language: z.string().max(64).optional(),
  })
  .strict();

/** The files of a signed repository index (APT or dnf): relative paths, each a blob. */
const indexFiles = z.array(z.object({ path: z.string().regex(/^[A-Za-z0-9._/-]{1,200}$/).refine((p) => !p.split('/').some((s) => s === '..' || s === '' || s === '.'), 'a relative path'), size: z.number().int().nonnegative(), sha256 }).strict()).min(1).max(200);

const base = { seq: z.number().int().positive(), prev: sha256, hash: sha256, at: z.string().datetime(), by: z.string().min(1).max(128) };

export const recordSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...base,
      type: z.literal('publish'),
      id: packageId,
      severity: z.enum(SEVERITIES),
      classification: z.string().max(64).optional(),
      files: z.array(fileEntrySchema).min(1).max(1000),
      /**
       * A package a vendor feed offered: the feed's name and, per file in order, its path in
       * the vendor's repository (`pool/main/o/openssl/...deb`), where the primary fetches it.
       */
      feed: z.object({ name: z.string().min(1).max(64), paths: z.array(z.string().min(1).max(1024)).min(1).max(1000) }).strict().optional(),
      /**
       * A feed package's source package (Debian's `Source`): its name, and its version when it
       * differs from the package's own. Absent when the source is the package itself. The
       * unit of a security fix: `sluice approve --source NAME@VERSION` takes every binary.
       */
      source: z.object({ name: z.string().regex(PACKAGE_NAME_PATTERN), version: z.string().regex(PACKAGE_VERSION_PATTERN).optional() }).strict().optional(),
    })
    .strict(),
  z.object({ ...base, type: z.literal('approve'), id: packageId, ring: z.string().min(1).max(64) }).strict(),
  z.object({ ...base, type: z.literal('decline'), id: packageId }).strict(),
  /**
   * Withdraws one ring's approval (`sluice decline ID --ring R`): the ring falls back to the
   * newest version still approved for it; every other ring keeps what it has.
   */
  z.object({ ...base, type: z.literal('withdraw'), id: packageId, ring: z.string().min(1).max(64) }).strict(),
  z.object({ ...base, type: z.literal('supersede'), id: packageId, supersededBy: packageId }).strict(),
  // A new root of trust, signed by the offline root keys; nodes accept it one version at a time.
  z.object({ ...base, type: z.literal('root'), root: signedRootSchema }).strict(),
  /**
   * A ring's APT repository index as the primary signed it (InRelease, Release, Packages per
   * architecture, the repository key), each file a blob: nodes replicate the files and serve
   * the index unchanged once they hold every file it lists, so apt on an endpoint checks the
   * primary's OpenPGP signature whatever hub it came through.
   */
  z
    .object({
      ...base,
      type: z.literal('apt-index'),
      ring: z.string().min(1).max(64),
      suite: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
      files: indexFiles,
    })
    .strict(),
  /**
   * A ring's dnf repository of one vendor RPM repository as the primary signed it (repomd.xml,
   * its detached repomd.xml.asc, primary, filelists, other and updateinfo, the ring's key), each
   * file a blob: nodes serve it unchanged once they hold every file it lists and every package
   * its primary names, so dnf on an endpoint checks the primary's signature (repo_gpgcheck)
   * whatever hub it came through.
   */
  z
    .object({
      ...base,
      type: z.literal('rpm-index'),
      ring: z.string().min(1).max(64),
      repo: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/),
      files: indexFiles,
    })
    .strict(),
]);

export type CatalogRecord = z.infer<typeof recordSchema>;
export type FileEntry = z.infer<typeof fileEntrySchema>;
export type PublishRecord = Extract<CatalogRecord, { type: 'publish' }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What a writer supplies; the log fills in seq, prev, hash. */
export type RecordBody = DistributiveOmit<CatalogRecord, 'seq' | 'prev' | 'hash'>;

export function hashRecord(record: Omit<CatalogRecord, 'hash'> | CatalogRecord): string {
  const { hash: _omit, ...rest } = record as CatalogRecord;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

export function sealRecord(body: RecordBody, seq: number, prev: string): CatalogRecord {
  const unsealed = { ...body, seq, prev } as Omit<CatalogRecord, 'hash'>;
  return { ...unsealed, hash: hashRecord(unsealed) } as CatalogRecord;
}

export function parsePackageId(id: string): { name: string; version: string } | undefined {
  const at = id.lastIndexOf('@');
  if (at <= 0) return undefined;
  const name = id.slice(0, at);
  const version = id.slice(at + 1);
  return PACKAGE_NAME_PATTERN.test(name) && PACKAGE_VERSION_PATTERN.test(version) ? { name, version } : undefined;
}
