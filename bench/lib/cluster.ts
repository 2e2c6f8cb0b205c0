import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { createCa, issueNodeCert } from '../../src/tls/certificates.js';
import { generateKeyPair } from '../../src/catalog/keys.js';
import { ApiClient } from '../../src/client/api-client.js';
import { multipartBody } from '../../src/cli/multipart.js';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/main.js');
export const ADMIN = 'bench-admin-token-0123456789abcdef';
/** The endpoint token every bench node accepts (reports). */
export const ENDPOINT = 'bench-endpoint-token-0123456789abcdef';

const handedOut = new Set<number>();

/** A port free now and not handed out before in this run (the kernel may offer one twice). */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('bench: no free port found in 100 tries');
}

export interface BenchNode {
  name: string;
  upstream?: string;
  /** Extra YAML for the node's flow map, e.g. `region: slow, ring: r1`. */
  extra?: string;
}

/** A topology of real `sluice serve` processes on loopback, in a temp dir removed by stop(). */
export interface ClusterOptions {
  header?: string;
  regions?: string[];
  nodeArgs?: string[];
  /** Runs before any node starts (e.g. to fill the primary's catalog offline). */
  prepare?: (ctx: { dir: string; dataDir: (name: string) => string; signingKeyPath: string; publicKeyPath: string; topologyFile: string }) => Promise<void>;
  /** Nodes to start now (default: all); others with spawnNode later. */
  start?: string[];
  /** HTTPS with mutual TLS: a CA in DIR/keys/tls and one certificate per node. */
  tls?: boolean;
  /** Extra environment for every node (e.g. the systemd unit's NODE_OPTIONS). */
  env?: Record<string, string>;
}

export async function startCluster(nodes: BenchNode[], opts: ClusterOptions = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-bench-'));
  const scheme = opts.tls ? 'https' : 'http';
  const tlsDir = path.join(dir, 'keys', 'tls');
  if (opts.tls) {
    await createCa(tlsDir);
    for (const n of nodes) await issueNodeCert({ caDir: tlsDir, name: n.name, hosts: ['127.0.0.1'], outDir: tlsDir });
  }
  // The bench's own requests (readiness, publish, status) trust the tree's CA.
  const dispatcher = opts.tls ? new Agent({ connect: { ca: readFileSync(path.join(tlsDir, 'ca.pem'), 'utf8') } }) : undefined;
  const keys = generateKeyPair(path.join(dir, 'keys'));
  const ports = new Map<string, number>();
  for (const n of nodes) ports.set(n.name, await freePort());
  const yaml = [
    'version: 1',
    `primary: ${nodes[0]!.name}`,
    opts.tls ? 'trust: { catalogKey: keys/catalog.pub, ca: keys/tls/ca.pem }' : 'trust: { catalogKey: keys/catalog.pub }',
    opts.header ?? '',
    'regions:',
    '  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }',
    ...(opts.regions ?? []),
    'nodes:',
    ...nodes.map((n) => `  ${n.name}: { url: "${scheme}://127.0.0.1:${ports.get(n.name)}"${n.extra?.includes('region:') ? '' : ', region: main'}${n.upstream ? `, upstream: ${n.upstream}` : ''}${n.extra ? `, ${n.extra}` : ''} }`),
  ].join('\n');
  const file = path.join(dir, 'topology.yaml');
  writeFileSync(file, `${yaml}\n`);
  const env = { ...process.env, SLUICE_SIGNING_KEY: keys.privatePath, SLUICE_ADMIN_TOKEN: ADMIN, SLUICE_PEER_TOKEN: 'bench-peer-token-0123456789abcdef', SLUICE_ENDPOINT_TOKEN: ENDPOINT, SLUICE_LOG_LEVEL: 'warn', ...opts.env };
  const children = new Map<string, ChildProcess>();
  const url = (name: string) => `${scheme}://127.0.0.1:${ports.get(name)}`;
  /** extraEnv: this node's own settings over every node's (e.g. the unit's environment for one node of a comparison). */
  const spawnNode = (name: string, extraArgs: string[] = [], extraEnv: Record<string, string> = {}) => {
    const tls = opts.tls ? { SLUICE_TLS_CERT: path.join(tlsDir, `${name}.crt`), SLUICE_TLS_KEY: path.join(tlsDir, `${name}.key`) } : {};
    const child = spawn(process.execPath, [...extraArgs, CLI, 'serve', '--node', name, '-t', file], { env: { ...env, ...tls, ...extraEnv }, stdio: ['ignore', 'ignore', 'inherit'] });
    children.set(name, child);
    return child;
  };
  await opts.prepare?.({ dir, dataDir: (name) => path.join(dir, 'data', name), signingKeyPath: keys.privatePath, publicKeyPath: keys.publicPath, topologyFile: file });
  const ready = (name: string) => until(`${name} ready`, async () => (await request(`${url(name)}/readyz`, { dispatcher }).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200, 120_000);
  const initial = nodes.filter((n) => !opts.start || opts.start.includes(n.name));
  for (const n of initial) spawnNode(n.name, opts.nodeArgs);
  for (const n of initial) await ready(n.name);
  const admin = new ApiClient(url(nodes[0]!.name), ADMIN, dispatcher);
  return {
    dir,
    file,
    url,
    children,
    spawnNode,
    ready,
    metric: async (name: string, series: string) => {
      const text = await request(`${url(name)}/metrics`, { dispatcher }).then((r) => r.body.text());
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
    },
    dataDir: (name: string) => path.join(dir, 'data', name),
    async publish(name: string, version: string, files: { path: string; size: number }[], meta: Record<string, unknown> = {}): Promise<{ id: string; sha: string[] }> {
      const mp = multipartBody({ name, version, ...meta }, files, () => {});
      const pkg = await admin.postStream<{ id: string; files: { sha256: string }[] }>('v1/packages', mp.body, mp.contentType, mp.length);
      return { id: pkg.id, sha: pkg.files.map((f) => f.sha256) };
    },
    approve: (id: string, ring = 'all') => admin.postJson(`v1/packages/${encodeURIComponent(id)}/approve`, { ring }),
    /** With tls: the CA bundle clients (curl --cacert) pin. */
    caPath: path.join(tlsDir, 'ca.pem'),
    status: (name: string) => request(`${url(name)}/v1/status`, { dispatcher }).then((r) => r.body.json() as Promise<any>),
    async stop() {
      for (const c of children.values()) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `cond` holds (bounded by `timeoutMs`). */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 600_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
