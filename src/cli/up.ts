import { randomBytes } from 'node:crypto';
import { appendFileSync, createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { loadSecrets, parseEnvFile, type Secrets } from '../auth/secrets.js';
import { PRIVATE_KEY_FILE, generateKeyPair } from '../catalog/keys.js';
import { RING_ALL } from '../catalog/records.js';
import { SluiceNode } from '../daemon.js';
import { SluiceError } from '../errors.js';
import { createLogger } from '../log/logger.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { certificates } from './cert.js';
import { common, topologyOf } from './context.js';
import { generateRingKeys } from '../feeds/repository-key.js';
import { closeOnSignal } from './lifecycle.js';
import { statusUrl } from '../protocol/paths.js';

/**
 * `sluice up`: every node of the topology that listens on this machine, in one process.
 * This is the local demo: on first run it creates the catalog key pair next to
 * trust.catalogKey and a demo secrets file (data/demo.env, mode 0600) with an admin token.
 */
export function registerUp(program: Command): void {
  common(program.command('up'))
    .description('run every node of the topology that listens on this machine (the local demo)')
    .option('--secrets <file>', 'secrets file (KEY=VALUE lines); default $SLUICE_SECRETS_FILE, else data/demo.env')
    .action(async (opts: { secrets?: string }, cmd: Command) => {
      const topology = topologyOf(cmd);
      const local = [...topology.nodes.values()].filter((n) => isLocalAddress(n.listenHost));
      if (local.length === 0) throw new SluiceError('USAGE', `no node of ${topology.file} listens on this machine; use "sluice serve --node NAME" on each site`);
      // Before anything is written (keys, demo secrets, certificates): a port in use fails now.
      await checkPortsFree(local);
      const secretsFile = opts.secrets || process.env.SLUICE_SECRETS_FILE || (await bootstrapDemo(topology));
      const secrets = loadSecrets(process.env, secretsFile);
      const certs = await bootstrapCertificates(topology, local, secrets);
      const logger = createLogger();
      const nodes = local.map((spec) => new SluiceNode({ topology, nodeName: spec.name, secrets: { ...secrets, ...certs.get(spec.name) }, logger }));
      const demoFeed = await serveDemoFeed(topology);
      closeOnSignal([...nodes.map((n) => () => n.close()), ...(demoFeed ? [demoFeed] : [])], logger);
      try {
        // The primary first, so downstream nodes find it on their first poll.
        for (const node of nodes.sort((a, b) => Number(b.spec.isPrimary) - Number(a.spec.isPrimary))) await node.start();
      } catch (err) {
        await Promise.allSettled(nodes.map((n) => n.close()));
        throw err;
      }
      printBanner(topology, local, secretsFile, secrets.adminTokens);
    });
}

/**
 * The quick start's vendor: a feed whose keyring lies in the shipped assets/demo-feed is a
 * tiny pre-built APT repository (scripts/make-demo-feed.sh), served here on its loopback URL
 * so the demo shows feeds and stock apt clients without the internet. Returns its close.
 */
async function serveDemoFeed(topology: Topology): Promise<(() => Promise<void>) | undefined> {
  const dir = path.join(path.dirname(topology.file), 'assets', 'demo-feed');
  const feed = [...topology.feeds.values()].find((f) => f.keyringPath.startsWith(dir + path.sep));
  if (!feed || !existsSync(dir)) return undefined;
  const url = new URL(feed.url);
  if (!isLocalAddress(url.hostname)) return undefined;
  const server = createHttpServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.resolve(dir, `.${rel}`);
    if (!file.startsWith(dir + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404);
      return void res.end();
    }
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(Number(url.port || 80), url.hostname, () => resolve(true));
  });
  if (!ok) {
    process.stderr.write(`the demo feed cannot listen on ${url.host} (in use?); feed ${feed.name} will report FEED_UNREACHABLE\n`);
    return undefined;
  }
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Every local node's address can be bound; else LISTEN_FAILED naming each one taken. */
async function checkPortsFree(specs: readonly NodeSpec[]): Promise<void> {
  const taken: string[] = [];
  for (const spec of specs) {
    const code = await new Promise<string | undefined>((resolve) => {
      const probe = createServer();
      probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      probe.listen({ host: spec.listenHost, port: spec.listenPort, exclusive: true }, () => probe.close(() => resolve(undefined)));
    });
    if (code) taken.push(`${spec.name} on ${spec.listenHost}:${spec.listenPort} (${code === 'EADDRINUSE' ? 'in use by another process' : code})`);
  }
  if (taken.length) throw new SluiceError('LISTEN_FAILED', `cannot listen: ${taken.join('; ')}; nothing was written. Stop what holds the port or change "url"/"listen" in the topology`);
}

async function bootstrapDemo(topology: Topology): Promise<string> {
  const root = path.dirname(topology.file);
  const secretsFile = path.join(root, 'data', 'demo.env');
  const keyDir = path.dirname(topology.trust.catalogKeyPath);
  const privateKey = path.join(keyDir, PRIVATE_KEY_FILE);
  if (!existsSync(topology.trust.catalogKeyPath) && !existsSync(privateKey)) {
    generateKeyPair(keyDir);
    process.stdout.write(`created the catalog key pair in ${path.relative(process.cwd(), keyDir) || '.'}/ (first run)\n`);
  }
  if (!existsSync(secretsFile)) {
    mkdirSync(path.dirname(secretsFile), { recursive: true });
    const token = randomBytes(24).toString('hex');
    const endpointToken = randomBytes(24).toString('hex');
    writeFileSync(
      secretsFile,
      `# Demo secrets for "sluice up" (created on first run). Production: see deploy/README.md\nSLUICE_ADMIN_TOKEN=admin=${token}\nSLUICE_SIGNING_KEY=${privateKey}\nSLUICE_ENDPOINT_TOKEN=${endpointToken}\n`,
      { mode: 0o600 },
    );
    process.stdout.write(`created ${path.relative(process.cwd(), secretsFile)} with a demo admin token (first run)\n`);
  }
  // The demo's node certificates (bootstrapCertificates) are named here, so one node can be
  // run alone from the same file: "sluice serve --node hq --secrets data/demo.env".
  const caPath = topology.trust.caPath;
  if (caPath && [...topology.nodes.values()].some((n) => n.url.startsWith('https:')) && !parseEnvFile(secretsFile).SLUICE_TLS_DIR) {
    appendFileSync(secretsFile, `SLUICE_TLS_DIR=${path.join(path.dirname(caPath), 'nodes')}\n`);
  }
  // With feeds, the primary signs an APT repository per ring, each ring with its own key: the
  // demo makes the keys of rings that lack one (a ring added to the topology gets its key on
  // the next run), and moves a demo made before per-ring keys from its one apt.key to them.
  if (topology.feeds.size) {
    const aptDir = topology.trust.aptKeysDir ?? path.join(keyDir, 'apt');
    const made = (await generateRingKeys(aptDir, [RING_ALL, ...topology.rings.filter((r) => r !== RING_ALL)])).filter((k) => k.created);
    if (made.length) process.stdout.write(`created APT repository keys in ${path.relative(process.cwd(), aptDir)}/ for ring(s) ${made.map((k) => k.ring).join(', ')} (an endpoint's source: sluice apt-source --ring RING --node NODE)\n`);
    const configured = parseEnvFile(secretsFile).SLUICE_APT_KEY;
    if (configured !== aptDir) {
      const lines = readFileSync(secretsFile, 'utf8').split('\n').filter((l) => !l.startsWith('SLUICE_APT_KEY='));
      writeFileSync(secretsFile, `${lines.join('\n').replace(/\n*$/, '\n')}SLUICE_APT_KEY=${aptDir}\n`, { mode: 0o600 });
    }
  }
  return secretsFile;
}

/**
 * The demo runs with TLS on: on first run, a local CA at trust.ca (its key beside it) and one
 * certificate per local https:// node under keys/nodes/. Certificates given explicitly
 * (SLUICE_TLS_CERT) win. Production: see "sluice cert" and deploy/README.md.
 */
async function bootstrapCertificates(topology: Topology, local: NodeSpec[], secrets: Secrets): Promise<Map<string, { tlsCertPath: string; tlsKeyPath: string }>> {
  const out = new Map<string, { tlsCertPath: string; tlsKeyPath: string }>();
  const https = local.filter((n) => n.url.startsWith('https:'));
  if (https.length === 0 || secrets.tlsCertPath) return out;
  const caPath = topology.trust.caPath;
  if (!caPath) throw new SluiceError('TOPOLOGY_INVALID', `${topology.file}: nodes have https:// urls but trust.ca is not set; add "ca: keys/ca.pem" under trust (sluice up creates it)`);
  const { CA_CERT_FILE, createCa, issueNodeCert, nodeCertPaths } = await certificates();
  const caDir = path.dirname(caPath);
  if (path.basename(caPath) !== CA_CERT_FILE) throw new SluiceError('TOPOLOGY_INVALID', `${topology.file}: for the demo, trust.ca must be a file named ${CA_CERT_FILE} (sluice up creates it and its key beside it); got ${caPath}`);
  if (!existsSync(caPath)) {
    await createCa(caDir);
    process.stdout.write(`created a local certificate authority in ${path.relative(process.cwd(), caDir) || '.'}/${CA_CERT_FILE} (first run)\n`);
  }
  const dir = path.join(caDir, 'nodes');
  for (const n of https) {
    const paths = nodeCertPaths(dir, n.name);
    if (!existsSync(paths.certPath) || !existsSync(paths.keyPath)) await issueNodeCert({ caDir, name: n.name, hosts: [new URL(n.url).hostname.replace(/^\[|\]$/g, ''), 'localhost'], outDir: dir });
    out.set(n.name, { tlsCertPath: paths.certPath, tlsKeyPath: paths.keyPath });
  }
  return out;
}

function printBanner(topology: Topology, local: NodeSpec[], secretsFile: string, adminTokens: string | undefined): void {
  const lines = ['', `Sluice is running ${local.length} node${local.length === 1 ? '' : 's'} of ${path.relative(process.cwd(), topology.file) || topology.file}:`];
  for (const n of local) lines.push(`  ${n.name.padEnd(12)} ${n.url.padEnd(26)} ${n.isPrimary ? 'primary' : `upstream ${n.upstream}`}`);
  const demoToken = adminTokens?.split(',')[0]?.replace(/^[A-Za-z0-9._@-]+=/, '');
  if (demoToken && existsSync(secretsFile) && parseEnvFile(secretsFile).SLUICE_ADMIN_TOKEN) {
    lines.push('', `Admin token (from ${path.relative(process.cwd(), secretsFile)}); in another terminal:`, `  export SLUICE_TOKEN=${demoToken}`, '  alias sluice="node $PWD/dist/src/main.js"   # or npx sluice (slower to start)', '  sluice publish FILE --name hello --version 1.0.0 && sluice packages');
  }
  if (topology.trust.caPath && local.some((n) => n.url.startsWith('https:'))) {
    lines.push('', `TLS is on; clients pin the demo CA: curl --cacert ${path.relative(process.cwd(), topology.trust.caPath)} ${statusUrl(local[0]!.url)}`);
  }
  const primary = local.find((n) => n.isPrimary);
  if (primary) lines.push('', `Admin console: ${primary.url}/ui/ (sign in with the admin token${primary.url.startsWith('https:') ? '; the browser warns about the demo CA until you trust it' : ''})`);
  lines.push('', 'Stop with Ctrl-C.', '');
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Loopback, wildcard, or an address of one of this machine's interfaces. */
export function isLocalAddress(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '0.0.0.0' || h === '::' || h === '::1' || h.startsWith('127.')) return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address.toLowerCase() === h));
}
