import type { Command } from 'commander';
import { loadSecrets, secretsForNode } from '../auth/secrets.js';
import { readPublicKey } from '../catalog/keys.js';
import { openNodeData } from '../catalog/node-data.js';
import { SluiceError } from '../errors.js';
import { recoverPrimary, type RecoverReport } from '../offline/recover-primary.js';
import { PeerClient } from '../protocol/peer-client.js';
import { DEFAULT_TUNING } from '../replicate/tuning.js';
import { loadCaBundle, loadCrl, loadTlsMaterial } from '../tls/tls-files.js';
import { formatBytes } from '../topology/units.js';
import { common, globalOptions, printJson, topologyOf } from './context.js';

/**
 * `sluice recover --from NODE`: after restoring the primary from a backup older than what the
 * tree holds, the stopped primary takes the signed catalog back from NODE and the blobs it
 * lost, both verified; then it starts where the tree is, and no node refuses anything.
 */
export function registerRecover(program: Command): void {
  common(program.command('recover'), { json: true })
    .description('on a stopped primary restored from a backup: take the newer signed catalog and the lost blobs back from a node of the tree')
    .requiredOption('--from <node>', 'a node holding the newest catalog (the one with the highest catalog seq in `sluice status`)')
    .option('--secrets <file>', "the primary's secrets file (its certificate, for mutual TLS); default $SLUICE_SECRETS_FILE")
    .action(async (opts: { from: string; secrets?: string }, cmd: Command) => {
      const topology = topologyOf(cmd);
      const primary = topology.nodes.get(topology.primary)!;
      const from = topology.nodes.get(opts.from);
      if (!from) throw new SluiceError('UNKNOWN_NODE', `--from ${opts.from}: no such node in ${topology.file}; expected one of: ${[...topology.nodes.keys()].filter((n) => n !== primary.name).join(', ')}`);
      if (from.isPrimary) throw new SluiceError('USAGE', `--from ${opts.from} is the primary itself; name a node of the tree that holds the newer catalog`);
      const secrets = secretsForNode(loadSecrets(process.env, opts.secrets), primary.name);
      // The primary's own certificate when it has one (checked and read as the node reads it);
      // with or without it, the node is checked against the CA and the revocation list, as nodes check theirs.
      const { caPath, crlPath } = topology.trust;
      const tls = secrets.tlsCertPath && secrets.tlsKeyPath ? loadTlsMaterial({ certPath: secrets.tlsCertPath, keyPath: secrets.tlsKeyPath, caPath, crlPath }) : undefined;
      const client = new PeerClient({
        ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, crl: tls.crl } : { ca: caPath ? loadCaBundle(caPath) : undefined, crl: crlPath ? loadCrl(crlPath) : undefined }),
        peerToken: secrets.peerToken,
      });
      // LevelDB's lock: a running primary is refused here (DATA_DIR_LOCKED); stop it first.
      const data = await openNodeData(primary.dataDir, readPublicKey(topology.trust.catalogKeyPath, 'the catalog public key (trust.catalogKey)'));
      const json = globalOptions(cmd).json;
      let report: RecoverReport;
      try {
        report = await recoverPrimary({ catalog: data.catalog, store: data.store, from: { name: from.name, url: from.url }, dispatcher: client.dispatcher, bounds: DEFAULT_TUNING, retainMs: topology.retainSupersededMs, ...(json ? {} : { progress: (line: string) => process.stderr.write(`${line}\n`) }) });
      } finally {
        await data.close();
        await client.close();
      }
      if (report.blobs.missing.length) process.exitCode = 1;
      if (json) return printJson(report);
      process.stdout.write(
        `${primary.name}: catalog seq ${report.catalog.before} → ${report.catalog.after} (${report.catalog.records} records from ${report.from}); ${report.blobs.fetched} blobs fetched (${formatBytes(report.blobs.bytes)}), ${report.blobs.alreadyHeld} already held, ${report.blobs.missing.length} missing\n`,
      );
      for (const m of report.blobs.missing) {
        const apt = m.packages.filter((p) => p.startsWith('apt:')).map((p) => p.slice('apt:'.length));
        const advice = apt.length === m.packages.length ? `a file of the newest APT index of ring ${apt.join(', ')}: recover again from a node that serves that ring` : 'put the file back with "sluice restore FILE" once the primary runs';
        process.stdout.write(`  missing ${m.sha256} (${m.packages.join(', ')}): ${advice}\n`);
      }
      process.stdout.write(`start the primary now: it signs a fresh head at seq ${report.catalog.after} and the tree carries on\n`);
    });
}
