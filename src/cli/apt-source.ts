import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { RING_ALL } from '../catalog/records.js';
import { SluiceError, describeFsError } from '../errors.js';
import { fingerprintOf, ringKeyPaths } from '../feeds/repository-key.js';
import { NAME_PATTERN } from '../topology/schema.js';
import { subtreeOf } from '../topology/tree.js';
import type { Topology } from '../topology/types.js';
import { common, globalOptions, topologyOf } from './context.js';

/**
 * `sluice apt-source --ring R --server URL`: the endpoint's APT source for its ring, as a
 * deb822 `.sources` file with the ring's public key inline in `Signed-By` (apt 2.3 and
 * later). It is made where the topology and the rings' public keys are (head office) and
 * placed on endpoints by configuration management or with the agent's files, so an
 * endpoint's first trust never comes from the node it will trust: a node serving its own key
 * and index, or another ring's, fails apt's signature check.
 */
export function registerAptSource(program: Command): void {
  common(program.command('apt-source'))
    .description("write an endpoint's APT source for its ring: a deb822 .sources file with the ring's key inline (Signed-By), made at head office from the ring's public key")
    .requiredOption('--ring <ring>', 'the ring the endpoint belongs to ("all" for packages approved for every ring only)')
    .option('--server <url>', 'the node the endpoint installs from (its nearest node), e.g. https://branch.example:7402')
    .option('--node <name>', 'the node the endpoint installs from, by its topology name (its url)')
    .option('--suite <suite>', "the vendor suite the machine follows (its release: e.g. bookworm-security); needed when the feeds follow more than one")
    .option('--components <list>', 'components to take, comma-separated (default: those the feeds follow in that suite)')
    .option('--keys <dir>', "the rings' public keys (RING.asc, from sluice keygen --apt); default: trust.aptKeys of the topology")
    .option('--out <file>', 'write the file here (e.g. /etc/apt/sources.list.d/sluice.sources) instead of printing it')
    .action(async (opts: { ring: string; server?: string; node?: string; suite?: string; components?: string; keys?: string; out?: string }, cmd: Command) => {
      const ring = opts.ring;
      if (!NAME_PATTERN.test(ring)) throw new SluiceError('USAGE', `--ring ${ring}: expected a ring name`);
      const topology = readTopology(cmd, opts);
      if (topology && ring !== RING_ALL && !topology.rings.includes(ring)) throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring}"; expected "all" or one of: ${topology.rings.join(', ') || '(no rings in the topology)'}`);
      const base = serverUrl(opts, topology, ring);
      const keyPath = publicKeyPath(ring, opts.keys ?? topology?.trust.aptKeysDir);
      let armored: string;
      try {
        armored = readFileSync(keyPath, 'utf8');
      } catch (err) {
        throw new SluiceError('KEY_MISSING', `cannot read ring ${ring}'s public APT key ${keyPath} (${describeFsError(err)}); make the rings' keys with "sluice keygen --apt --out DIR" and pass --keys DIR (or set trust.aptKeys)`);
      }
      const fingerprint = await fingerprintOf(armored);
      const { suite, components } = suiteOf(opts, topology);
      const text = sourcesFile({ ring, base, armored, fingerprint, suite, components });
      if (!opts.out) return void process.stdout.write(text);
      writeFileSync(opts.out, text, { mode: 0o644 });
      process.stderr.write(`wrote ${opts.out}: ring ${ring} from ${base}, key ${fingerprint}\n`);
    });
}

/** The topology when one is readable; --server with --keys works without one. */
function readTopology(cmd: Command, opts: { server?: string; keys?: string }): Topology | undefined {
  if (opts.server && opts.keys && !existsSync(globalOptions(cmd).topology)) return undefined;
  return topologyOf(cmd);
}

export function serverUrl(opts: { server?: string; node?: string }, topology: Topology | undefined, ring: string): string {
  if (opts.server && opts.node) throw new SluiceError('USAGE', 'pass --server URL or --node NAME, not both');
  let url = opts.server;
  if (!url && opts.node) {
    const node = topology?.nodes.get(opts.node);
    if (!node || !topology) throw new SluiceError('UNKNOWN_NODE', `--node ${opts.node}: no such node in the topology; expected one of: ${[...(topology?.nodes.keys() ?? [])].join(', ')}`);
    // A node holds the indexes of the rings it and the nodes below it are in (all: every node).
    const served = new Set([node, ...subtreeOf(topology, node.name)].flatMap((n) => n.rings));
    if (ring !== RING_ALL && !node.isPrimary && !served.has(ring)) throw new SluiceError('USAGE', `--node ${node.name} does not serve ring ${ring} (its rings: ${[...served].join(', ') || 'none: all only'}); name a node of ring ${ring}${[...topology.nodes.values()].some((n) => n.rings.includes(ring)) ? `, e.g. ${[...topology.nodes.values()].find((n) => n.rings.includes(ring))!.name}` : ''}`);
    url = node.url;
  }
  if (!url) throw new SluiceError('USAGE', 'name the node the endpoint installs from: --server https://NODE:PORT or --node NAME');
  // The URL is written into a file apt reads line by line: a line break in it would add a
  // stanza of the caller's choosing (an unsigned source). URL parsing drops such characters,
  // so they are refused before, and what is written is the parsed form.
  if (/[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(url)) throw new SluiceError('USAGE', `--server ${JSON.stringify(url.slice(0, 100))}: a URL holds no spaces, line breaks or control characters`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SluiceError('USAGE', `--server ${url} is not a URL; expected e.g. https://branch.example:7402`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new SluiceError('USAGE', `--server ${url}: expected an https:// (or http://) URL`);
  if (parsed.username || parsed.password || parsed.search || parsed.hash) throw new SluiceError('USAGE', `--server ${url}: expected the node's URL alone (no credentials, query or fragment)`);
  return parsed.href.replace(/\/+$/, '');
}

/**
 * The vendor suite the machine follows and its components: each suite is a repository of its
 * own per ring (two releases never share an index), so a machine names exactly one.
 */
function suiteOf(opts: { suite?: string; components?: string }, topology: Topology | undefined): { suite: string; components: string[] } {
  const feeds = [...(topology?.feeds.values() ?? [])];
  const suites = [...new Set(feeds.flatMap((f) => f.suites))];
  const suite = opts.suite ?? (suites.length === 1 ? suites[0] : undefined);
  if (!suite) throw new SluiceError('USAGE', suites.length ? `the feeds follow several suites (${suites.join(', ')}): name the machine's with --suite` : 'name the vendor suite the machine follows with --suite (the topology has no feeds to take it from)');
  if (!/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/.test(suite)) throw new SluiceError('USAGE', `--suite ${suite}: expected a suite such as bookworm-security`);
  if (topology && feeds.length && !suites.includes(suite)) throw new SluiceError('USAGE', `--suite ${suite}: no feed follows it; the feeds follow ${suites.join(', ')}`);
  const components = opts.components ? opts.components.split(',').map((c) => c.trim()).filter(Boolean) : [...new Set(feeds.filter((f) => f.suites.includes(suite)).flatMap((f) => f.components))];
  if (components.length === 0) components.push('main');
  const bad = components.find((c) => !/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/.test(c));
  if (bad !== undefined) throw new SluiceError('USAGE', `--components: "${bad}" is not a component such as main`);
  return { suite, components };
}

/** The ring's public key: DIR/RING.asc, or one shared key file (the set-up before per-ring keys). */
function publicKeyPath(ring: string, keys: string | undefined): string {
  if (!keys) throw new SluiceError('USAGE', "where are the rings' public APT keys? pass --keys DIR (the directory sluice keygen --apt wrote) or set trust.aptKeys in the topology");
  if (existsSync(keys) && statSync(keys).isFile()) return keys;
  return ringKeyPaths(keys, ring).publicPath;
}

/** A deb822 source: a multi-line field's empty lines are written " ." (deb822's rule). */
export function sourcesFile(o: { ring: string; base: string; armored: string; fingerprint: string; suite: string; components: readonly string[] }): string {
  const key = o.armored.trim().split(/\r?\n/).map((line) => (line.trim() === '' ? ' .' : ` ${line}`));
  const host = new URL(o.base).host;
  return [
    `# Sluice: ring ${o.ring}, suite ${o.suite}, installed from ${o.base}. Made at head office by "sluice apt-source";`,
    `# the ring's key is inline (fingerprint ${o.fingerprint}): compare it with "sluice keygen --apt" or "sluice root show".`,
    ...(o.base.startsWith('https:') ? [`# apt must trust the nodes' CA, e.g. in /etc/apt/apt.conf.d/60sluice-ca: Acquire::https::${host.replace(/:\d+$/, '')}::CaInfo "/etc/sluice-agent/ca.pem";`] : []),
    'Types: deb',
    `URIs: ${o.base}/apt/${o.ring}`,
    `Suites: ${o.suite}`,
    `Components: ${o.components.join(' ')}`,
    'Signed-By:',
    ...key,
    '',
  ].join('\n');
}
