import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { SluiceError } from '../errors.js';
import { common, topologyOf } from './context.js';

/**
 * `sluice cert ca --out DIR` and `sluice cert node NAME --ca-dir DIR --out DIR`: a CA for
 * the tree and one certificate per node (server and client, with the node's identity as the
 * SAN sluice://node/NAME and its URL host for hostname checks).
 */
export function registerCert(program: Command): void {
  const cert = program.command('cert').description('create the CA and the node certificates for HTTPS and mutual TLS');
  cert
    .command('ca')
    .description('create DIR/ca.pem (public: trust.ca on every node and agent) and DIR/ca.key (private, 0600: keep it where certificates are issued)')
    .requiredOption('--out <dir>', 'directory for the CA')
    .option('--days <n>', 'validity in days', '3650')
    .action(async (opts: { out: string; days: string }) => {
      const { createCa } = await certificates();
      const { certPath, keyPath } = await createCa(opts.out, days(opts.days));
      process.stdout.write(`wrote ${certPath} (public: point trust.ca at it)\nwrote ${keyPath} (private, 0600: never on a node)\n`);
    });
  common(cert.command('node'))
    .description('issue DIR/NAME.crt and DIR/NAME.key for a node of the topology, signed by the CA in --ca-dir (run again to renew; nodes pick up the new pair without a restart)')
    .argument('<name>', 'the node, as named in the topology')
    .requiredOption('--ca-dir <dir>', 'directory holding ca.pem and ca.key')
    .requiredOption('--out <dir>', 'directory for the certificate and key')
    .option('--host <host...>', 'extra host names or addresses the certificate covers (the URL host is always included)')
    .option('--days <n>', 'validity in days', '397')
    .action(async (name: string, opts: { caDir: string; out: string; host?: string[]; days: string }, cmd: Command) => {
      const topology = topologyOf(cmd);
      const node = topology.nodes.get(name);
      if (!node) throw new SluiceError('UNKNOWN_NODE', `no node "${name}" in ${topology.file}; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
      const hosts = [...new Set([new URL(node.url).hostname.replace(/^\[|\]$/g, ''), ...(opts.host ?? [])])];
      let out;
      try {
        const { issueNodeCert } = await certificates();
        out = await issueNodeCert({ caDir: opts.caDir, name, hosts, outDir: opts.out, days: days(opts.days) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SluiceError('TLS_INVALID', `no CA in ${path.resolve(opts.caDir)} (ca.pem and ca.key); create one with "sluice cert ca --out ${opts.caDir}"`);
        throw err;
      }
      const { serialOf } = await certificates();
      process.stdout.write(`wrote ${out.certPath} and ${out.keyPath} for node ${name} (covers ${hosts.join(', ')}, serial ${serialOf(readFileSync(out.certPath, 'utf8'))}); set SLUICE_TLS_CERT and SLUICE_TLS_KEY on that node\n`);
    });
  cert
    .command('revoke')
    .description('add certificates to the revocation list (trust.crl) signed by the CA: nodes reload it and refuse them at the handshake. Revoke a stolen pair before or after issuing its node a new one (sluice cert node)')
    .argument('[cert-files...]', 'certificate files to revoke (e.g. the copy of a stolen NAME.crt)')
    .requiredOption('--ca-dir <dir>', 'directory holding ca.pem and ca.key')
    .option('--serial <hex...>', 'serial numbers to revoke, as "sluice cert node" printed them')
    .option('--crl <file>', 'the revocation list to add to (written whole); default DIR/crl.pem of --ca-dir')
    .option('--days <n>', 'how long the list is valid (nodes refuse every certificate once it has expired: re-run before then)', '3650')
    .action(async (files: string[], opts: { caDir: string; serial?: string[]; crl?: string; days: string }) => {
      if (files.length === 0 && !opts.serial?.length) throw new SluiceError('USAGE', 'name the certificates to revoke: sluice cert revoke FILE.crt... --ca-dir DIR, or --serial HEX');
      const { revokeCertificates } = await certificates();
      const crlPath = path.resolve(opts.crl ?? path.join(opts.caDir, 'crl.pem'));
      let out;
      try {
        out = await revokeCertificates({ caDir: opts.caDir, crlPath, certFiles: files, serials: opts.serial ?? [], days: days(opts.days) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SluiceError('FILE_NOT_READABLE', `${(err as NodeJS.ErrnoException).path ?? 'a file'}: no such file (the CA is ca.pem and ca.key in --ca-dir)`);
        throw err;
      }
      process.stdout.write(`wrote ${out.crlPath}: ${out.added.length ? `revoked ${out.added.join(', ')}` : 'nothing new (already listed)'}; ${out.listed} certificate(s) listed\npoint trust.crl at it (or copy it where trust.crl points) on every node: they reload it within seconds and refuse the listed certificates\n`);
    });
}

function days(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 36500) throw new SluiceError('USAGE', `--days ${text}: expected a whole number of days`);
  return n;
}

/** The X.509 library (about 20 MiB resident) is loaded by the commands that issue certificates only, never by a serving node. */
export function certificates() {
  return import('../tls/certificates.js');
}
