import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SluiceError, describeFsError } from '../errors.js';

/** Ed25519 keys as PEM files: PKCS#8 for the private key, SPKI for the public one. */

export const PRIVATE_KEY_FILE = 'catalog.key';
export const PUBLIC_KEY_FILE = 'catalog.pub';

export function generateKeyPair(outDir: string, options: { force?: boolean; name?: string } = {}): { privatePath: string; publicPath: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(outDir, { recursive: true });
  const privatePath = path.join(outDir, options.name ? `${options.name}.key` : PRIVATE_KEY_FILE);
  const publicPath = path.join(outDir, options.name ? `${options.name}.pub` : PUBLIC_KEY_FILE);
  const flag = options.force ? 'w' : 'wx';
  try {
    writeFileSync(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag });
    writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SluiceError('KEY_INVALID', `${privatePath} or ${publicPath} already exists; refusing to overwrite a catalog key (pass --force to replace it, then give every node the new catalog.pub)`);
    }
    throw err;
  }
  return { privatePath, publicPath };
}

export function readPublicKey(file: string, purpose: string): KeyObject {
  return readKey(file, purpose, 'public');
}

export function readPrivateKey(file: string, purpose: string): KeyObject {
  return readKey(file, purpose, 'private');
}

function readKey(file: string, purpose: string, kind: 'public' | 'private'): KeyObject {
  const pem = readKeyFile(file, purpose);
  // A signing key others on the host can read is as good as published.
  if (kind === 'private') {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) throw new SluiceError('KEY_INVALID', `${purpose} ${file} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); make it private: chmod 600 ${file} (and chown it to the Sluice user)`);
  }
  try {
    const key = kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
    return key;
  } catch (err) {
    throw new SluiceError('KEY_INVALID', `${file} is not an Ed25519 ${kind} key (${(err as Error).message}); create a pair with "sluice keygen --out DIR"`, { cause: err });
  }
}

/** True when `privateKey` is the private half of `publicKey`. */
export function keysMatch(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return derived.equals(publicKey.export({ type: 'spki', format: 'der' }));
}

function readKeyFile(file: string, purpose: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SluiceError('KEY_MISSING', `cannot read ${purpose} ${file} (${describeFsError(err)}); create it with "sluice keygen --out ${path.dirname(file)}"`, { cause: err });
  }
}
