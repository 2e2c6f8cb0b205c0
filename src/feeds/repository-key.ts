import type * as OpenPgp from 'openpgp';
import { openpgpModule } from './load-openpgp.js';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../errors.js';

/**
 * The primary's APT repository keys: OpenPGP keys that sign each ring's index, so apt on an
 * endpoint checks the primary's signature whatever hub relayed the files. One key per ring:
 * an endpoint pins its own ring's key (in its `.sources` file, made at head office by `sluice
 * apt-source`), so an index of another ring, relayed in its place by a hub, fails apt's
 * signature check even on a machine that has never seen its ring's index before. Kept like
 * the catalog key: the private halves on the primary only (SLUICE_APT_KEY names their
 * directory, each file mode 0600), the public halves wherever endpoint configuration is made.
 * EdDSA (the v4 "ed25519Legacy" form) because the gpgv that apt runs on current Debian and
 * Ubuntu releases verifies it; the newer RFC 9580 Ed25519 is refused there.
 */
export interface RepositoryKey {
  readonly privateKey: OpenPgp.PrivateKey;
  /** The public half, armored (what a ring's `.sources` file carries inline in Signed-By). */
  readonly publicArmored: string;
  /** 40 hex digits, upper case, as `gpg --show-keys` prints it: what a person compares. */
  readonly fingerprint: string;
}

/** A ring's key files in a key directory: `DIR/RING.key` (private) and `DIR/RING.asc` (public). */
export const ringKeyPaths = (dir: string, ring: string) => ({ privatePath: path.join(dir, `${ring}.key`), publicPath: path.join(dir, `${ring}.asc`) });

export interface GeneratedRingKey {
  readonly ring: string;
  readonly privatePath: string;
  readonly publicPath: string;
  readonly fingerprint: string;
  /** False when the ring had a key already and it was kept. */
  readonly created: boolean;
}

/**
 * Makes a key for each ring that lacks one in `dir` (every key when `force`); keeps existing
 * ones, since endpoints already pin them. Returns every ring's key with its fingerprint.
 */
export async function generateRingKeys(dir: string, rings: readonly string[], force = false): Promise<GeneratedRingKey[]> {
  const openpgp = await openpgpModule();
  mkdirSync(dir, { recursive: true });
  const out: GeneratedRingKey[] = [];
  for (const ring of rings) {
    const { privatePath, publicPath } = ringKeyPaths(dir, ring);
    if (!force && existsSync(publicPath)) {
      out.push({ ring, privatePath, publicPath, fingerprint: await fingerprintOf(readFileSync(publicPath, 'utf8')), created: false });
      continue;
    }
    if (!force && existsSync(privatePath)) throw new SluiceError('KEY_INVALID', `${privatePath} exists without ${publicPath}; restore the public half (it is the private key's, see "gpg --show-keys") or pass --force to replace the ring's key deliberately (its endpoints then need a new .sources file)`);
    const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: `Sluice repository, ring ${ring}` }], format: 'armored' });
    writeFileSync(privatePath, privateKey, { mode: 0o600 });
    chmodSync(privatePath, 0o600);
    writeFileSync(publicPath, publicKey);
    out.push({ ring, privatePath, publicPath, fingerprint: await fingerprintOf(publicKey), created: true });
  }
  return out;
}

/** The fingerprint of an armored public (or private) key: 40 upper-case hex digits. */
export async function fingerprintOf(armored: string): Promise<string> {
  const openpgp = await openpgpModule();
  try {
    return (await openpgp.readKey({ armoredKey: armored })).getFingerprint().toUpperCase();
  } catch (err) {
    throw new SluiceError('KEY_INVALID', `not an armored OpenPGP key (${(err as Error).message})`);
  }
}

/**
 * The keys the primary signs with, as SLUICE_APT_KEY names them: a directory holding
 * `RING.key` per ring (each ring its own key), or, as before per-ring keys, one file that
 * signs every ring (`shared`: a hub could then hand one ring's index to another's clients).
 * A ring's key is read when first needed, so a key added with `sluice keygen --apt --ring R`
 * is used without a restart.
 */
export class RepositoryKeys {
  private readonly loaded = new Map<string, RepositoryKey>();

  private constructor(
    /** The directory of per-ring keys, or the one shared key file. */
    readonly location: string,
    readonly shared: boolean,
  ) {}

  static async open(location: string): Promise<RepositoryKeys> {
    let isDir: boolean;
    try {
      isDir = statSync(location).isDirectory();
    } catch (err) {
      throw new SluiceError('KEY_MISSING', `cannot read the APT repository keys at ${location} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); create them with "sluice keygen --apt --out DIR" (one key per ring) and point SLUICE_APT_KEY at DIR`);
    }
    const keys = new RepositoryKeys(location, !isDir);
    // A shared key file is read at once: a mistake in it shows at start, as before.
    if (!isDir) keys.loaded.set('', await loadRepositoryKey(location));
    return keys;
  }

  /** The key that signs `ring`'s index, or undefined when the directory has none for it. */
  async keyFor(ring: string): Promise<RepositoryKey | undefined> {
    if (this.shared) return this.loaded.get('');
    const cached = this.loaded.get(ring);
    if (cached) return cached;
    const { privatePath } = ringKeyPaths(this.location, ring);
    if (!existsSync(privatePath)) return undefined;
    const key = await loadRepositoryKey(privatePath);
    this.loaded.set(ring, key);
    return key;
  }
}

export async function loadRepositoryKey(file: string): Promise<RepositoryKey> {
  const openpgp = await openpgpModule();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SluiceError('KEY_MISSING', `cannot read the APT repository key ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); create keys with "sluice keygen --apt --out DIR" and point SLUICE_APT_KEY at DIR`);
  }
  if ((statSync(file).mode & 0o077) !== 0) throw new SluiceError('KEY_INVALID', `${file} is readable by other users; chmod 600 ${file}`);
  try {
    const privateKey = await openpgp.readPrivateKey({ armoredKey: text });
    return { privateKey, publicArmored: privateKey.toPublic().armor(), fingerprint: privateKey.getFingerprint().toUpperCase() };
  } catch (err) {
    throw new SluiceError('KEY_INVALID', `${file} is not an armored OpenPGP private key (${(err as Error).message}); create keys with "sluice keygen --apt"`);
  }
}

/** The clear-signed form of a Release text (InRelease). */
export async function clearsign(text: string, key: RepositoryKey): Promise<string> {
  const openpgp = await openpgpModule();
  return openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: key.privateKey });
}

/** A detached, armored signature of `data` (repomd.xml.asc, which dnf checks with repo_gpgcheck). */
export async function detachSign(data: Uint8Array, key: RepositoryKey): Promise<string> {
  const openpgp = await openpgpModule();
  return openpgp.sign({ message: await openpgp.createMessage({ binary: data }), signingKeys: key.privateKey, detached: true, format: 'armored' });
}
