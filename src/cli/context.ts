import type { Command } from 'commander';
import { ApiClient } from '../client/api-client.js';
import { SluiceError } from '../errors.js';
import { PeerClient } from '../protocol/peer-client.js';
import { loadCaBundle } from '../tls/tls-files.js';
import { loadTopology } from '../topology/load.js';
import type { Topology } from '../topology/types.js';

export interface GlobalOptions {
  topology: string;
  server?: string;
  json?: boolean;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/**
 * Adds the options every command takes. They are declared per command (not on the
 * program) so that `publish --version V` is the package version, not Sluice's.
 */
export function common(cmd: Command, which: { server?: boolean; json?: boolean } = {}): Command {
  cmd.option('-t, --topology <file>', 'topology file', './topology.yaml');
  if (which.server) cmd.option('--server <url>', "node to talk to (default: the primary's url from the topology)");
  if (which.json) cmd.option('--json', 'machine-readable output (stable; see the README)');
  return cmd;
}

export function topologyOf(cmd: Command): Topology {
  return loadTopology(globalOptions(cmd).topology);
}

/**
 * The node a command talks to: --server, else the primary's URL from the topology. The
 * topology is read only when needed, so --server works without a topology file.
 */
export function clientFor(cmd: Command, env: NodeJS.ProcessEnv = process.env, nodeName?: string): ApiClient {
  const { server } = globalOptions(cmd);
  const base = server ?? (nodeName ? nodeUrl(cmd, nodeName) : primaryUrl(cmd));
  try {
    new URL(base);
  } catch {
    throw new SluiceError('USAGE', `--server ${base} is not a URL; expected e.g. http://127.0.0.1:7400`);
  }
  return new ApiClient(base, env.SLUICE_TOKEN || undefined, base.startsWith('https:') ? new PeerClient({ ca: caFor(cmd, env) }).dispatcher : undefined);
}

/**
 * The CA an https:// node's certificate must chain to: $SLUICE_CA, else trust.ca of the
 * topology (when there is one to read), else the system's CAs.
 */
function caFor(cmd: Command, env: NodeJS.ProcessEnv): string | undefined {
  if (env.SLUICE_CA) return loadCaBundle(env.SLUICE_CA);
  let caPath: string | undefined;
  try {
    caPath = topologyOf(cmd).trust.caPath;
  } catch {
    return undefined;
  }
  return caPath ? loadCaBundle(caPath) : undefined;
}

function nodeUrl(cmd: Command, name: string): string {
  const topology = topologyOf(cmd);
  const node = topology.nodes.get(name);
  if (!node) throw new SluiceError('UNKNOWN_NODE', `--node ${name}: no such node in ${globalOptions(cmd).topology}; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
  return node.url;
}

function primaryUrl(cmd: Command): string {
  const topology = topologyOf(cmd);
  return topology.nodes.get(topology.primary)!.url;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
