import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import path from 'node:path';
import { generateKeyPair } from '../../src/catalog/keys.js';
import { SluiceNode } from '../../src/daemon.js';
import { createLogger } from '../../src/log/logger.js';
import { loadTopology } from '../../src/topology/load.js';
import { createCa, issueNodeCert, nodeCertPaths } from '../../src/tls/certificates.js';
import type { Topology } from '../../src/topology/types.js';
import type { ReplicationTuning } from '../../src/replicate/tuning.js';
import { freePorts, onTeardown, tempDir } from './env.js';
import { FaultProxy } from './fault-proxy.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const PEER_TOKEN = 'test-peer-token-0123456789abcdef';
export const ENDPOINT_TOKEN = 'test-endpoint-token-0123456789abcdef';

export interface NodeDef {
  name: string;
  upstream?: string;
  extra?: string;
  /** Put a FaultProxy in front: the topology url is the proxy, the node listens elsewhere. */
  proxied?: boolean;
}

/**
 * A topology in a fresh directory: nodes on free loopback ports, a fresh key pair and an
 * admin token. The default is the 3-tier shape primary → hub → branch.
 */
export async function makeCluster(
  defs: NodeDef[] = [{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hub' }],
  header = '',
  regions = ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }'],
  options: { tls?: boolean; /** Extra members of the trust map, e.g. "timestampTtl: 2s". */ trust?: string } = {},
) {
  const dir = tempDir();
  const ports = await freePorts(defs.length);
  const realPorts = await freePorts(defs.length);
  const keys = generateKeyPair(path.join(dir, 'keys'));
  const lines = [
    'version: 1',
    `primary: ${defs[0]!.name}`,
    `trust: { catalogKey: keys/catalog.pub${options.tls ? ', ca: keys/tls/ca.pem' : ''}${options.trust ? `, ${options.trust}` : ''} }`,
    header,
    'regions:',
    ...regions,
    'nodes:',
    ...defs.map(
      (d, i) =>
        `  ${d.name}: { url: "${options.tls ? 'https' : 'http'}://127.0.0.1:${ports[i]}"${d.extra?.includes('region:') ? '' : ', region: main'}${d.proxied ? `, listen: "127.0.0.1:${realPorts[i]}"` : ''}${d.upstream ? `, upstream: ${d.upstream}` : ''}${d.extra ? `, ${d.extra}` : ''} }`,
    ),
  ];
  const tlsDir = path.join(dir, 'keys', 'tls');
  if (options.tls) {
    await createCa(tlsDir);
    for (const d of defs) await issueNodeCert({ caDir: tlsDir, name: d.name, hosts: ['127.0.0.1', 'localhost'], outDir: tlsDir });
  }
  const file = path.join(dir, 'topology.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const proxies = new Map<string, FaultProxy>();
  for (const [i, d] of defs.entries()) {
    if (!d.proxied) continue;
    const proxy = new FaultProxy(`http://127.0.0.1:${realPorts[i]}`);
    await proxy.listen(ports[i]!);
    proxies.set(d.name, proxy);
  }
  const secrets = { signingKeyPath: keys.privatePath, adminTokens: `tester=${ADMIN_TOKEN}`, peerToken: PEER_TOKEN, endpointTokens: ENDPOINT_TOKEN, ...(options.tls ? { tlsDir } : {}) };
  return {
    dir,
    file,
    /** With tls: the CA bundle (trust.ca) clients pin. */
    caPath: path.join(tlsDir, 'ca.pem'),
    topology: loadTopology(file),
    secrets,
    ports,
    proxies,
    env: { SLUICE_SIGNING_KEY: keys.privatePath, SLUICE_ADMIN_TOKEN: `tester=${ADMIN_TOKEN}`, SLUICE_TOKEN: ADMIN_TOKEN, SLUICE_PEER_TOKEN: PEER_TOKEN, SLUICE_ENDPOINT_TOKEN: ENDPOINT_TOKEN },
  };
}

/** Starts a node in this process, the way the CLI does; closed when the test file ends. */
/** Replication timing short enough for tests on loopback. */
export const TEST_TUNING: Partial<ReplicationTuning> = { longPollSec: 5, backoffFloorMs: 50, backoffCapMs: 1000, stallMs: 2000, probeMs: 300, statusPushMs: 200, gcEveryMs: 100 };

export async function startNode(topology: Topology, name: string, secrets: { signingKeyPath?: string; adminTokens?: string; peerToken?: string; endpointTokens?: string; childTokens?: string; tlsDir?: string; aptKeyPath?: string; oidcClientSecret?: string }, tuning: Partial<ReplicationTuning> = {}, options: { httpIdleTimeoutMs?: number; tlsReloadMs?: number; /** Collects the node's log lines (info and above), parsed. */ logLines?: Record<string, unknown>[] } = {}): Promise<SluiceNode> {
  // A TLS cluster gives every node its own certificate (DIR/NAME.crt, DIR/NAME.key).
  const tls = secrets.tlsDir ? nodeCertPaths(secrets.tlsDir, name) : undefined;
  const { logLines, ...nodeOptions } = options;
  const node = new SluiceNode({
    ...nodeOptions,
    topology,
    nodeName: name,
    tuning: { ...TEST_TUNING, ...tuning },
    secrets: { signingKeyPath: secrets.signingKeyPath, adminTokens: secrets.adminTokens, peerToken: secrets.peerToken, endpointTokens: secrets.endpointTokens, childTokens: secrets.childTokens, tlsCertPath: tls?.certPath, tlsKeyPath: tls?.keyPath, aptKeyPath: secrets.aptKeyPath, oidcClientSecret: secrets.oidcClientSecret },
    logger: logLines ? createLogger({ level: 'info', destination: collect(logLines) }) : createLogger({ level: (process.env.SLUICE_TEST_LOG as 'info' | undefined) ?? 'silent' }),
  });
  onTeardown(() => node.close());
  await node.start();
  return node;
}

/** A destination for a logger that parses each JSON line into `lines`. */
function collect(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
}
