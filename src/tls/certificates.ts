import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { SluiceError } from '../errors.js';
import { nodeUri } from './node-identity.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca.key';

/** Where a node's certificate and key are written: DIR/NAME.crt and DIR/NAME.key. */
export function nodeCertPaths(dir: string, name: string): { certPath: string; keyPath: string } {
  return { certPath: path.join(dir, `${name}.crt`), keyPath: path.join(dir, `${name}.key`) };
}

function pem(label: string, der: ArrayBuffer): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END ${label}-----\n`;
}

const pemKey = (der: ArrayBuffer) => pem('PRIVATE KEY', der);

const serial = () => randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');

/**
 * A certificate authority for a site tree: DIR/ca.pem (public: trust.ca) and DIR/ca.key
 * (0600; keep it where certificates are issued, not on the nodes). Never overwrites.
 */
export async function createCa(dir: string, days = 3650): Promise<{ certPath: string; keyPath: string }> {
  const certPath = path.join(dir, CA_CERT_FILE);
  const keyPath = path.join(dir, CA_KEY_FILE);
  if (existsSync(certPath) || existsSync(keyPath)) throw new SluiceError('TLS_INVALID', `${certPath} or ${keyPath} exists already; a new CA would orphan every certificate it issued`);
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=Sluice CA',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + days * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyPath, pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), { mode: 0o600 });
  writeFileSync(certPath, cert.toString('pem') + '\n');
  return { certPath, keyPath };
}

/**
 * A node's certificate, issued by the CA in `caDir`: the node's identity as the SAN
 * `sluice://node/NAME`, and `hosts` (names or addresses from its URL) for hostname checks.
 * Usable as server and as client (mutual TLS). Replaces an existing pair (renewal).
 */
export async function issueNodeCert(o: { caDir: string; name: string; hosts: readonly string[]; outDir: string; days?: number; validFrom?: Date }): Promise<{ certPath: string; keyPath: string }> {
  const caCertPem = readFileSync(path.join(o.caDir, CA_CERT_FILE), 'utf8');
  const caKeyPem = readFileSync(path.join(o.caDir, CA_KEY_FILE), 'utf8');
  const caCert = new x509.X509Certificate(caCertPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', Buffer.from(caKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'), ALG, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const names: x509.JsonGeneralNames = [{ type: 'url', value: nodeUri(o.name) }, ...o.hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }))];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${o.name}`,
    issuer: caCert.subject,
    notBefore: o.validFrom ?? new Date(Date.now() - 60_000),
    notAfter: new Date((o.validFrom?.getTime() ?? Date.now()) + (o.days ?? 397) * DAY_MS),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  });
  const out = nodeCertPaths(o.outDir, o.name);
  mkdirSync(o.outDir, { recursive: true });
  // Key first: a reader that sees the new certificate finds its key (the watcher re-checks the pair).
  writeFileSync(out.keyPath, pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), { mode: 0o600 });
  writeFileSync(out.certPath, cert.toString('pem') + '\n');
  return out;
}

/**
 * Adds certificates to the tree's revocation list (trust.crl), signed by the CA in `caDir`:
 * every serial already listed in `crlPath` stays, the new ones (from certificate files or
 * given as hex serials) are added, and the list is written whole. Nodes reload it like their
 * certificates, and from then on refuse those certificates at the handshake, in both
 * directions. `days`: how long the list is valid; OpenSSL refuses every certificate of the
 * CA once a CRL in use has expired, so it is long by default and re-made at each revocation.
 */
export async function revokeCertificates(o: { caDir: string; crlPath: string; certFiles: readonly string[]; serials: readonly string[]; days?: number }): Promise<{ crlPath: string; added: string[]; listed: number }> {
  const caCert = new x509.X509Certificate(readFileSync(path.join(o.caDir, CA_CERT_FILE), 'utf8'));
  const caKeyPem = readFileSync(path.join(o.caDir, CA_KEY_FILE), 'utf8');
  const caKey = await webcrypto.subtle.importKey('pkcs8', Buffer.from(caKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'), ALG, false, ['sign']);
  const entries = new Map<string, Date>();
  if (existsSync(o.crlPath)) {
    const previous = new x509.X509Crl(readFileSync(o.crlPath, 'utf8'));
    if (!(await previous.verify({ publicKey: caCert.publicKey }))) throw new SluiceError('TLS_INVALID', `${o.crlPath} is not signed by the CA in ${o.caDir}; give the list this CA made (or a new path)`);
    for (const e of previous.entries) entries.set(e.serialNumber.toLowerCase(), e.revocationDate);
  }
  const added: string[] = [];
  const add = (serial: string) => {
    const s = serial.toLowerCase().replace(/^0+(?=.)/, '');
    if (!/^[0-9a-f]{1,40}$/.test(s)) throw new SluiceError('USAGE', `"${serial}" is not a certificate serial number (hex digits, as "sluice cert node" prints)`);
    if (!entries.has(s)) added.push(s);
    entries.set(s, entries.get(s) ?? new Date());
  };
  for (const file of o.certFiles) {
    const cert = new x509.X509Certificate(readFileSync(file, 'utf8'));
    if (cert.issuer !== caCert.subject) throw new SluiceError('USAGE', `${file} was not issued by the CA in ${o.caDir} (issuer ${cert.issuer})`);
    add(cert.serialNumber);
  }
  for (const s of o.serials) add(s);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + (o.days ?? 3650) * DAY_MS),
    entries: [...entries].map(([serialNumber, revocationDate]) => ({ serialNumber, revocationDate, reason: x509.X509CrlReason.keyCompromise })),
    signingAlgorithm: ALG,
    signingKey: caKey,
  });
  mkdirSync(path.dirname(o.crlPath), { recursive: true });
  const tmp = `${o.crlPath}.tmp`;
  // OpenSSL reads a CRL only under the "X509 CRL" PEM label (the library writes "CRL").
  writeFileSync(tmp, pem('X509 CRL', crl.rawData));
  renameSync(tmp, o.crlPath);
  return { crlPath: o.crlPath, added, listed: entries.size };
}

/** A certificate's serial number as `sluice cert revoke --serial` takes it. */
export function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toLowerCase();
}

/** What a certificate covers, for `sluice check`. */
export function describeCert(pem: string): { notAfterMs: number; coversHost: (host: string) => boolean; fingerprint: string } {
  const c = new X509Certificate(pem);
  return {
    notAfterMs: Date.parse(c.validTo),
    coversHost: (host) => (isIP(host) ? c.checkIP(host) !== undefined : c.checkHost(host) !== undefined),
    fingerprint: c.fingerprint256,
  };
}
