import type * as OpenPgp from 'openpgp';
import { openpgpModule } from './load-openpgp.js';
import { readFileSync } from 'node:fs';
import { SluiceError } from '../errors.js';

/** A vendor's OpenPGP public keys (a feed's `keyring`), as read from disk once. */
export type Keyring = readonly OpenPgp.PublicKey[];

/**
 * Reads a keyring file: ASCII-armored (`.asc`, what vendors publish) or binary (`.gpg`, what
 * Debian's `debian-archive-keyring` package installs), one key or several concatenated.
 */
export async function loadKeyring(file: string): Promise<Keyring> {
  const openpgp = await openpgpModule();
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new SluiceError('FEED_KEYRING', `cannot read the feed keyring ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point the feed's keyring at the vendor's public keys (e.g. /usr/share/keyrings/debian-archive-keyring.gpg)`);
  }
  try {
    const armored = bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP');
    const keys = armored ? await openpgp.readKeys({ armoredKeys: bytes.toString('utf8') }) : await openpgp.readKeys({ binaryKeys: new Uint8Array(bytes) });
    if (keys.length === 0) throw new Error('no keys');
    return keys;
  } catch (err) {
    throw new SluiceError('FEED_KEYRING', `${file} holds no OpenPGP public key Sluice can read (${(err as Error).message}); export the vendor's keys with "gpg --export" (binary) or "gpg --export --armor"`);
  }
}

/**
 * Most signatures one Release may carry (Debian's carries two or three, one per archive key
 * in use). Each is checked over the whole text, and the library holds a copy of the text per
 * signature: a mirror repeating a genuine signature packet thousands of times (each fails,
 * after hashing) would take minutes and gigabytes.
 */
const MAX_SIGNATURES = 8;

function tooManySignatures(what: string, count: number): SluiceError | undefined {
  return count > MAX_SIGNATURES ? new SluiceError('FEED_SIGNATURE', `${what} carries ${count} signatures; Sluice checks at most ${MAX_SIGNATURES} (a repository signs with one per archive key), so a mirror or proxy altered it`) : undefined;
}

/**
 * The text of a clear-signed `InRelease`, once a signature by one of `keys` verifies over it.
 * Only the signed text is returned: anything outside the signature (a hub or mirror could
 * prepend or append lines) is never parsed.
 */
export async function verifyClearsigned(text: string, keys: Keyring, nowMs: number): Promise<string> {
  const openpgp = await openpgpModule();
  let message: OpenPgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: text });
  } catch (err) {
    throw new SluiceError('FEED_SIGNATURE', `InRelease is not a clear-signed OpenPGP message (${(err as Error).message})`);
  }
  const excess = tooManySignatures('InRelease', message.getSigningKeyIDs().length);
  if (excess) throw excess;
  try {
    const result = await openpgp.verify({ message, verificationKeys: [...keys], expectSigned: true, date: new Date(nowMs) });
    return result.data as string;
  } catch (err) {
    throw new SluiceError('FEED_SIGNATURE', `InRelease is not signed by a key of the feed's keyring (${(err as Error).message})`);
  }
}

/** `Release` with its detached `Release.gpg` (repositories without InRelease): the bytes, once verified. */
export async function verifyDetached(data: Uint8Array, signature: Uint8Array, keys: Keyring, nowMs: number): Promise<string> {
  const openpgp = await openpgpModule();
  let sig: OpenPgp.Signature;
  try {
    const head = Buffer.from(signature.subarray(0, 64)).toString('latin1');
    sig = head.includes('-----BEGIN PGP') ? await openpgp.readSignature({ armoredSignature: Buffer.from(signature).toString('utf8') }) : await openpgp.readSignature({ binarySignature: signature });
  } catch (err) {
    throw new SluiceError('FEED_SIGNATURE', `Release.gpg is not an OpenPGP signature (${(err as Error).message})`);
  }
  const excess = tooManySignatures('Release.gpg', sig.packets.length);
  if (excess) throw excess;
  try {
    const message = await openpgp.createMessage({ binary: data });
    const result = await openpgp.verify({ message, signature: sig, verificationKeys: [...keys], expectSigned: true, date: new Date(nowMs), format: 'binary' });
    return Buffer.from(result.data as Uint8Array).toString('utf8');
  } catch (err) {
    throw new SluiceError('FEED_SIGNATURE', `Release is not signed by a key of the feed's keyring (${(err as Error).message})`);
  }
}
