import type * as OpenPgp from 'openpgp';
import { openpgpModule } from './load-openpgp.js';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.js';

/**
 * The primary's APT repository key: an OpenPGP key that signs each ring's index, so apt on
 * an endpoint checks the primary's signature whatever hub relayed the files. Kept like the
 * catalog key: the private half on the primary only (SLUICE_APT_KEY, mode 0600), the public
 * half served by every node at /apt/key.asc. EdDSA (the v4 "ed25519Legacy" form) because
 * the gpgv that apt runs on current Debian and Ubuntu releases verifies it; the newer RFC 9580
 * Ed25519 is refused there.
 */
export interface RepositoryKey {
  readonly privateKey: OpenPgp.PrivateKey;
  /** The public half, armored (what /apt/key.asc serves and signed-by= points at). */
  readonly publicArmored: string;
}

export async function generateRepositoryKey(dir: string, name = 'apt', force = false): Promise<{ privatePath: string; publicPath: string }> {
  const openpgp = await openpgpModule();
  const privatePath = path.join(dir, `${name}.key`);
  const publicPath = path.join(dir, `${name}.asc`);
  if (!force && (existsSync(privatePath) || existsSync(publicPath))) throw new SluiceError('KEY_INVALID', `${privatePath} or ${publicPath} exists already; endpoints trust that key (signed-by=): pass --force only to replace it deliberately`);
  const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Sluice repository' }], format: 'armored' });
  mkdirSync(dir, { recursive: true });
  writeFileSync(privatePath, privateKey, { mode: 0o600 });
  chmodSync(privatePath, 0o600);
  writeFileSync(publicPath, publicKey);
  return { privatePath, publicPath };
}

export async function loadRepositoryKey(file: string): Promise<RepositoryKey> {
  const openpgp = await openpgpModule();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SluiceError('KEY_MISSING', `cannot read the APT repository key ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); create one with "sluice keygen --apt --out DIR" and point SLUICE_APT_KEY at DIR/apt.key`);
  }
  if ((statSync(file).mode & 0o077) !== 0) throw new SluiceError('KEY_INVALID', `${file} is readable by other users; chmod 600 ${file}`);
  try {
    const privateKey = await openpgp.readPrivateKey({ armoredKey: text });
    return { privateKey, publicArmored: privateKey.toPublic().armor() };
  } catch (err) {
    throw new SluiceError('KEY_INVALID', `${file} is not an armored OpenPGP private key (${(err as Error).message}); create one with "sluice keygen --apt"`);
  }
}

/** The clear-signed form of a Release text (InRelease). */
export async function clearsign(text: string, key: RepositoryKey): Promise<string> {
  const openpgp = await openpgpModule();
  return openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: key.privateKey });
}
