import type { Command } from 'commander';
import { SluiceError } from '../errors.js';
import { openNodeData } from '../catalog/node-data.js';
import { readPublicKey } from '../catalog/keys.js';
import { verifyStore, type VerifyReport } from '../store/verify-store.js';
import { formatBytes } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson, topologyOf } from './context.js';
import { PATHS } from '../protocol/paths.js';

/**
 * `sluice verify --node NAME`: re-hashes every blob the node stores. A running node does it
 * itself (admin call) and re-fetches what fails; a stopped node's data directory is checked
 * in place and the failures are fetched again when it starts.
 */
export function registerVerify(program: Command): void {
  common(program.command('verify'), { server: true, json: true })
    .description('re-hash every stored blob of a node; quarantine (and re-fetch) any that fail')
    .requiredOption('--node <name>', 'the node to verify')
    .action(async (opts: { node: string }, cmd: Command) => {
      let report: VerifyReport & { node: string; offline?: boolean };
      try {
        report = await clientFor(cmd, process.env, opts.node).postJson(PATHS.verify, {});
      } catch (err) {
        if (!(err instanceof SluiceError) || err.code !== 'SERVER_UNREACHABLE') throw err;
        report = { ...(await verifyOffline(cmd, opts.node)), node: opts.node, offline: true };
      }
      // A failed verification is a failure for scripts too, whatever the output format.
      if (report.quarantined.length || report.missing.length || report.unreadable.length) process.exitCode = 1;
      if (globalOptions(cmd).json) return printJson(report);
      process.stdout.write(`${report.node}: ${report.checked} blobs (${formatBytes(report.bytes)}) re-hashed${report.offline ? ' offline' : ''}; ${report.quarantined.length} failed, ${report.missing.length} missing, ${report.unreadable.length} unreadable\n`);
      for (const sha of report.quarantined) process.stdout.write(`  quarantined ${sha} (a downstream node fetches it again; on the primary: sluice restore FILE)\n`);
      for (const sha of report.missing) process.stdout.write(`  missing     ${sha} (its file is gone; same remedy)\n`);
      for (const u of report.unreadable) process.stdout.write(`  unreadable  ${u.sha256} (${u.error}; kept: run verify again)\n`);
    });
}

async function verifyOffline(cmd: Command, nodeName: string): Promise<VerifyReport> {
  const topology = topologyOf(cmd);
  const spec = topology.nodes.get(nodeName);
  if (!spec) throw new SluiceError('UNKNOWN_NODE', `--node ${nodeName}: no such node; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
  const data = await openNodeData(spec.dataDir, readPublicKey(topology.trust.catalogKeyPath, 'the catalog public key (trust.catalogKey)'));
  try {
    return await verifyStore(data.store);
  } finally {
    await data.close();
  }
}
