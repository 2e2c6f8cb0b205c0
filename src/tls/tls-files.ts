import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { SluiceError } from '../errors.js';

/** A node's TLS material as loaded from disk. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  /** The trust anchors peers are checked against (trust.ca); undefined: the system's CAs. */
  readonly ca: string | undefined;
  /** Revoked certificates (trust.crl), PEM; checked at every handshake, both directions. */
  readonly crl: string | undefined;
  /** When the node's certificate expires (ms since epoch). */
  readonly notAfterMs: number;
}

export interface TlsPaths {
  readonly certPath: string;
  readonly keyPath: string;
  readonly caPath: string | undefined;
  readonly crlPath?: string | undefined;
}

/**
 * Reads and checks a node's certificate, key and trust anchors: every file readable, the key
 * the private half of the certificate. Messages name the file and the command that fixes it.
 */
export function loadTlsMaterial(p: TlsPaths): TlsMaterial {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SluiceError('TLS_INVALID', `cannot read ${what} ${file} (${code === 'ENOENT' ? 'no such file' : code}); create one with "sluice cert node NAME" or point ${what === 'the certificate' ? 'SLUICE_TLS_CERT' : what === 'the key' ? 'SLUICE_TLS_KEY' : 'trust.ca'} at it`);
    }
  };
  const cert = read(p.certPath, 'the certificate');
  const key = read(p.keyPath, 'the key');
  const ca = p.caPath ? read(p.caPath, 'the CA bundle') : undefined;
  const crl = p.crlPath ? loadCrl(p.crlPath) : undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new SluiceError('TLS_INVALID', `${p.certPath} is not a PEM certificate (${(err as Error).message}); create one with "sluice cert node NAME"`);
  }
  let matches = false;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new SluiceError('TLS_INVALID', `${p.keyPath} is not a PEM private key (${(err as Error).message})`);
  }
  if (!matches) throw new SluiceError('TLS_INVALID', `${p.keyPath} is not the private key of ${p.certPath}; give the key the certificate was issued for (SLUICE_TLS_KEY)`);
  return { cert, key, ca, crl, notAfterMs: Date.parse(x509.validTo) };
}

/**
 * The revocation list of trust.crl, checked to load as OpenSSL will use it. A node started
 * without a readable list would accept the very certificates it was meant to refuse, so a
 * missing or broken one stops the start (and a reload keeps the previous list).
 */
export function loadCrl(file: string): string {
  let crl: string;
  try {
    crl = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SluiceError('TLS_INVALID', `cannot read trust.crl ${file} (${code === 'ENOENT' ? 'no such file' : code}); make it with "sluice cert revoke FILE.crt --ca-dir DIR" or remove trust.crl`);
  }
  try {
    createSecureContext({ crl });
  } catch (err) {
    throw new SluiceError('TLS_INVALID', `trust.crl ${file} is not a PEM certificate revocation list (${(err as Error).message}); make it with "sluice cert revoke"`);
  }
  if (!crl.includes('-----BEGIN X509 CRL-----')) throw new SluiceError('TLS_INVALID', `trust.crl ${file} holds no "BEGIN X509 CRL" block; make it with "sluice cert revoke"`);
  return crl;
}

/** The CA bundle of trust.ca, read once (a node restarted after a CA change reads it again). */
export function loadCaBundle(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SluiceError('TLS_INVALID', `cannot read trust.ca ${file} (${code === 'ENOENT' ? 'no such file' : code}); create a CA with "sluice cert ca --out DIR" or point trust.ca at the bundle your certificates come from`);
  }
}

/**
 * Calls `onChange` with fresh material whenever the certificate, key or CA file changes on
 * disk (renewal by an ACME client, a cron job, an operator): new handshakes use it, open
 * connections keep theirs. A half-written or mismatched set is reported and skipped; the
 * previous material stays in use until a good one appears.
 */
export function watchTlsMaterial(p: TlsPaths, intervalMs: number, onChange: (m: TlsMaterial) => void, onError: (err: SluiceError) => void): () => void {
  const files = [p.certPath, p.keyPath, ...(p.caPath ? [p.caPath] : []), ...(p.crlPath ? [p.crlPath] : [])];
  const stamp = () => files.map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? -1).join(':');
  let last = stamp();
  const check = () => {
    const now = stamp();
    if (now === last) return;
    last = now;
    try {
      onChange(loadTlsMaterial(p));
    } catch (err) {
      onError(err as SluiceError);
    }
  };
  for (const f of files) watchFile(f, { interval: intervalMs, persistent: false }, check);
  return () => {
    for (const f of files) unwatchFile(f, check);
  };
}
