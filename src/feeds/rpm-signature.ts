import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type * as OpenPgp from 'openpgp';
import PQueue from 'p-queue';
import { SluiceError } from '../errors.js';
import { openpgpModule } from './load-openpgp.js';
import type { Keyring } from './openpgp-signature.js';
import type { BytesFrom } from '../download/want.js';
import { RpmFormatError, TAG, readRpmHeadFrom, type RpmHead } from './rpm-header.js';

/** rpm's digest algorithm numbers (OpenPGP's) for the payload digest. */
const PAYLOAD_DIGESTS: Record<number, string> = { 2: 'sha1', 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };

/** A package whose signature verified: the key that signed it, and its header for what follows. */
export interface VerifiedRpm {
  /** The signing key's fingerprint, upper-case hex. */
  readonly signer: string;
  readonly head: RpmHead;
}

/**
 * Checks an `.rpm` as dnf's `gpgcheck` would, before Sluice lets it into the store: its
 * header carries a v4 OpenPGP signature (rpm's header-only signature, RSA or EdDSA/DSA) made by
 * a key of the feed's keyring over the main header's bytes, and the header's payload digest
 * (rpm 4.14 and later write one) matches the payload, so no byte of the file escapes the
 * signature. A package without a header signature, signed by another key, or whose signature
 * or payload does not verify is FEED_PACKAGE_SIGNATURE. A package older than rpm 4.14 carries
 * no payload digest: its header signature is checked, and rpm checks each file against the
 * signed header's digests when it installs.
 */
export function verifyRpmPackage(file: string | BytesFrom, keys: Keyring, nowMs: number, what: string): Promise<VerifiedRpm> {
  return oneAtATime.add(() => verify(file, keys, nowMs, what));
}

/**
 * One package is checked at a time in the process: a main header is read whole (up to
 * MAX_HEADER_DATA) before its signature says whose it is, so a mirror listing many packages
 * of made-up huge headers would otherwise hold one per transfer lane at once.
 */
const oneAtATime = new PQueue({ concurrency: 1 });

async function verify(file: string | BytesFrom, keys: Keyring, nowMs: number, what: string): Promise<VerifiedRpm> {
  const bytes = typeof file === 'string' ? fileBytes(file) : file;
  let head: RpmHead;
  const start = bytes(0);
  try {
    head = await readRpmHeadFrom(start, what);
  } catch (err) {
    if (err instanceof RpmFormatError) throw new SluiceError('FEED_PACKAGE_SIGNATURE', `${what} is not an rpm package Sluice can read (${err.message}); it was not stored`);
    throw err;
  } finally {
    await start.return(undefined);
  }
  const signatures = [TAG.SIG_RSA, TAG.SIG_DSA].map((t) => head.signature.bytes(t)).filter((b): b is Buffer => b !== undefined);
  if (signatures.length === 0) throw new SluiceError('FEED_PACKAGE_SIGNATURE', `${what} carries no header signature (unsigned, or signed only by rpm before 4.1); Sluice stores only packages signed by a key of the feed's keyring; it was not stored. Ask the vendor for a signed package, or decline it`);
  const openpgp = await openpgpModule();
  const failures: string[] = [];
  let signer: string | undefined;
  for (const bytes of signatures) {
    try {
      const signature = await openpgp.readSignature({ binarySignature: new Uint8Array(bytes) });
      const message = await openpgp.createMessage({ binary: head.headerBytes });
      const result = await openpgp.verify({ message, signature, verificationKeys: [...keys], date: new Date(nowMs), format: 'binary' });
      const first = result.signatures[0];
      if (!first) throw new Error('no signature packet');
      await first.verified;
      signer = fingerprintOf(keys, first.keyID) ?? first.keyID.toHex().toUpperCase();
      break;
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  if (!signer) throw new SluiceError('FEED_PACKAGE_SIGNATURE', `${what} is not signed by a key of the feed's keyring (${failures.join('; ').slice(0, 300)}): re-signed by another key, or altered; it was not stored. Check the feed's keyring, or decline the package`);
  await checkPayload(bytes, head, what);
  return { signer, head };
}

/** The payload hashes to the digest the signed header names (when it names one). */
async function checkPayload(bytes: BytesFrom, head: RpmHead, what: string): Promise<void> {
  const expected = head.header.strings(TAG.PAYLOADDIGEST)?.[0];
  if (expected === undefined) return;
  const algo = PAYLOAD_DIGESTS[head.header.number(TAG.PAYLOADDIGESTALGO) ?? 8];
  if (!algo) throw new SluiceError('FEED_PACKAGE_SIGNATURE', `${what}: its payload digest uses algorithm ${head.header.number(TAG.PAYLOADDIGESTALGO)}, which Sluice cannot check; it was not stored`);
  const hash = createHash(algo);
  for await (const chunk of bytes(head.headerEnd)) hash.update(chunk);
  const actual = hash.digest('hex');
  if (actual !== expected.toLowerCase()) throw new SluiceError('FEED_PACKAGE_SIGNATURE', `${what}: its payload does not match the digest its signed header gives (${algo} ${actual.slice(0, 16)}…, signed ${expected.slice(0, 16)}…): the payload was swapped; it was not stored`);
}

/** A file's bytes from `start`, read as they are asked for. */
function fileBytes(path: string): BytesFrom {
  return async function* (start: number) {
    for await (const chunk of createReadStream(path, { start })) yield chunk as Buffer;
  };
}

function fingerprintOf(keys: Keyring, keyId: OpenPgp.KeyID): string | undefined {
  for (const key of keys) {
    for (const k of [key, ...key.getSubkeys()]) if (k.getKeyID().equals(keyId)) return k.getFingerprint().toUpperCase();
  }
  return undefined;
}
