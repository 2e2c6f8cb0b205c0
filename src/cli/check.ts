import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { RING_ALL } from '../catalog/records.js';
import { ringKeyPaths } from '../feeds/repository-key.js';
import { loadSecrets, secretsForNode } from '../auth/secrets.js';
import { readPublicKey } from '../catalog/keys.js';
import { SluiceError } from '../errors.js';
import { certificates } from './cert.js';
import { loadTlsMaterial } from '../tls/tls-files.js';
import { renderTree } from '../topology/tree.js';
import type { Topology } from '../topology/types.js';
import { checkTopologyFile, formatIssue, invalidTopology } from '../topology/load.js';
import { common, globalOptions } from './context.js';
import { checkFeeds, type KeyringSummary } from './feed-checks.js';
import { isLocalAddress } from './up.js';

const EXPIRY_WARNING_DAYS = 30;

/** `sluice check`: validates the topology and prints the tree; every error at once. */
export function registerCheck(program: Command): void {
  common(program.command('check'))
    .description('validate the topology and print the tree of nodes; with --node, also that node\'s certificate and key')
    .option('--node <name>', 'also check this node\'s TLS certificate and key (SLUICE_TLS_CERT, SLUICE_TLS_KEY, from the environment or --secrets)')
    .option('--secrets <file>', 'secrets file to read SLUICE_TLS_CERT and SLUICE_TLS_KEY from (default $SLUICE_SECRETS_FILE)')
    .action(async (opts: { node?: string; secrets?: string }, cmd: Command) => {
      const file = globalOptions(cmd).topology;
      const checked = checkTopologyFile(file);
      // The feeds' keyrings are read by the primary alone: on another node's host (--node) they need not exist.
      const primary = isPrimaryName(checked.raw);
      const keyrings = !opts.node || opts.node === primary;
      const feeds = await checkFeeds(checked.raw, path.dirname(path.resolve(file)), { keyrings });
      const errors = [...checked.issues, ...feeds.errors.map((i) => checked.locate(i))];
      if (errors.length || !checked.topology) throw invalidTopology(file, errors);
      const topology = checked.topology;
      const warnings: string[] = feeds.warnings.map((i) => `warning: ${formatIssue(checked.locate(i))}`);
      const keyPath = topology.trust.catalogKeyPath;
      const shown = path.relative(process.cwd(), keyPath) || keyPath;
      if (!existsSync(keyPath)) {
        warnings.push(`warning: trust.catalogKey ${shown} does not exist yet; create the pair with "sluice keygen --out ${path.dirname(shown)}" (npm start does this on first run)`);
      } else {
        readPublicKey(keyPath, 'the catalog public key (trust.catalogKey)');
      }
      warnings.push(...transportWarnings(topology));
      warnings.push(...aptKeyWarnings(topology));
      if (opts.node) warnings.push(...(await nodeCertificateWarnings(topology, opts.node, opts.secrets)));
      process.stdout.write(`${renderTree(topology)}\n`);
      if (topology.feeds.size) process.stdout.write(`\n${feedsSummary(topology, feeds.keyrings, keyrings ? undefined : topology.primary)}`);
      const n = topology.nodes.size;
      process.stdout.write(`\n${globalOptions(cmd).topology}: ok (${n} node${n === 1 ? '' : 's'}, ${topology.regions.size} region${topology.regions.size === 1 ? '' : 's'})\n`);
      for (const w of warnings) process.stderr.write(`${w}\n`);
    });
}

function isPrimaryName(raw: unknown): string | undefined {
  const primary = raw && typeof raw === 'object' ? (raw as { primary?: unknown }).primary : undefined;
  return typeof primary === 'string' ? primary : undefined;
}

/**
 * Each feed as the primary will follow it, with the keys its keyring verifies with today: the
 * one thing a check without the network cannot tell is whether they are the vendor's, and
 * their fingerprints are what a person compares with the vendor's published ones.
 */
function feedsSummary(topology: Topology, keyrings: ReadonlyMap<string, KeyringSummary>, skippedFor: string | undefined): string {
  const lines = ['feeds (checked without the network; the vendor\'s signature is checked at each sync):'];
  for (const f of topology.feeds.values()) {
    const where = f.type === 'rpm' ? `repos ${[...f.repos].map(([repo, dir]) => `${repo}=${dir || '.'}`).join(',')}${f.requireSignedMetadata ? '  signed metadata required' : ''}` : `suites ${f.suites.join(',')}  components ${f.components.join(',')}`;
    lines.push(`  ${f.name}  ${f.url}  ${where}  architectures ${f.architectures.join(',')}${f.packages ? `  packages ${[...f.packages].join(',')}` : ''}`);
    const k = keyrings.get(f.name);
    const relative = path.relative(process.cwd(), f.keyringPath);
    const shown = relative && !relative.startsWith('..') ? relative : f.keyringPath;
    if (!k) {
      lines.push(`    keyring ${shown}: not opened (only the primary${skippedFor ? `, ${skippedFor},` : ''} reads it)`);
      continue;
    }
    lines.push(`    keyring ${shown}: ${k.usable.length} usable key${k.usable.length === 1 ? '' : 's'}${k.usable.length < k.total ? ` of ${k.total}` : ''}`);
    for (const key of k.usable) lines.push(`      ${key.fingerprint}  ${key.userId}${key.expiresMs === Infinity ? '' : `  (expires ${new Date(key.expiresMs).toISOString().slice(0, 10)})`}`);
  }
  return `${lines.join('\n')}\n`;
}

/** With feeds, each ring's public APT key where trust.aptKeys says (what sluice apt-source reads). */
function aptKeyWarnings(topology: Topology): string[] {
  const dir = topology.trust.aptKeysDir;
  if (!topology.feeds.size || !dir) return [];
  const shown = path.relative(process.cwd(), dir) || dir;
  const missing = [RING_ALL, ...topology.rings.filter((r) => r !== RING_ALL)].filter((r) => !existsSync(ringKeyPaths(dir, r).publicPath));
  return missing.length ? [`warning: trust.aptKeys ${shown} has no key for ring(s) ${missing.join(', ')}: their APT and dnf repositories are not signed; make them with "sluice keygen --apt --out ${shown}" (on the primary, where SLUICE_APT_KEY points)`] : [];
}

/** Plain HTTP beyond this machine carries tokens in clear; trust.ca must exist for https nodes. */
function transportWarnings(topology: Topology): string[] {
  const out: string[] = [];
  for (const n of topology.nodes.values()) {
    const host = new URL(n.url).hostname.replace(/^\[|\]$/g, '');
    if (n.url.startsWith('http:') && !(host === 'localhost' || host.startsWith('127.') || host === '::1')) {
      out.push(`warning: nodes.${n.name}.url ${n.url} is plain HTTP beyond this machine: tokens and blobs cross the network in clear. Use https:// (sluice cert node ${n.name}), or end TLS at a reverse proxy and give the node its own peer token (SLUICE_PEER_TOKENS)`);
    }
  }
  const ca = topology.trust.caPath;
  if (ca && !existsSync(ca)) out.push(`warning: trust.ca ${path.relative(process.cwd(), ca) || ca} does not exist yet; create a CA with "sluice cert ca --out ${path.relative(process.cwd(), path.dirname(ca)) || '.'}" (npm start does this on first run)`);
  return out;
}

/** The node's certificate and key: readable, a pair, issued by trust.ca, covering its URL host, not about to expire. */
async function nodeCertificateWarnings(topology: Topology, name: string, secretsFile: string | undefined): Promise<string[]> {
  const node = topology.nodes.get(name);
  if (!node) throw new SluiceError('UNKNOWN_NODE', `--node ${name}: no such node in ${topology.file}; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
  const secrets = secretsForNode(loadSecrets(process.env, secretsFile), name);
  const fix = `sluice cert node ${name} --ca-dir DIR --out DIR`;
  if (!secrets.tlsCertPath || !secrets.tlsKeyPath) {
    if (!node.url.startsWith('https:')) return [];
    throw new SluiceError('TLS_INVALID', `node ${name} has an https:// url but SLUICE_TLS_CERT and SLUICE_TLS_KEY are not set (environment or --secrets); create a pair with "${fix}"`);
  }
  const material = loadTlsMaterial({ certPath: secrets.tlsCertPath, keyPath: secrets.tlsKeyPath, caPath: topology.trust.caPath, crlPath: topology.trust.crlPath });
  const out: string[] = [];
  const { describeCert } = await certificates();
  const cert = describeCert(material.cert);
  const host = new URL(node.url).hostname.replace(/^\[|\]$/g, '');
  if (!cert.coversHost(host)) throw new SluiceError('TLS_INVALID', `${secrets.tlsCertPath} does not cover ${host}, the host of nodes.${name}.url: peers would refuse it (name mismatch); issue one with "${fix}" (or --host ${host})`);
  if (material.ca && !issuedBy(material.cert, material.ca)) throw new SluiceError('TLS_INVALID', `${secrets.tlsCertPath} is not issued by trust.ca (${topology.trust.caPath}): other nodes would refuse it; issue it from that CA with "${fix}"`);
  const days = (cert.notAfterMs - Date.now()) / 86_400_000;
  if (days < 0) throw new SluiceError('TLS_INVALID', `${secrets.tlsCertPath} expired on ${new Date(cert.notAfterMs).toISOString().slice(0, 10)}; renew it with "${fix}"`);
  if (days < EXPIRY_WARNING_DAYS) out.push(`warning: ${secrets.tlsCertPath} expires in ${Math.floor(days)} days (${new Date(cert.notAfterMs).toISOString().slice(0, 10)}); renew it with "${fix}" (the node picks it up without a restart)`);
  if (!isLocalAddress(node.listenHost) && node.url.startsWith('http:')) out.push(`warning: node ${name} has a certificate but a plain http:// url: it presents the certificate to its upstream only`);
  return out;
}

function issuedBy(certPem: string, caPem: string): boolean {
  const cert = new X509Certificate(certPem);
  const cas = caPem.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((p) => p.includes('BEGIN CERTIFICATE'));
  return cas.some((pem) => {
    const ca = new X509Certificate(pem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  });
}

