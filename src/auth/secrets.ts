import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SluiceError, describeFsError } from '../errors.js';

/** Per-node secrets, which never live in topology.yaml. */
export interface Secrets {
  /** Path of the primary's Ed25519 private key (SLUICE_SIGNING_KEY). */
  readonly signingKeyPath: string | undefined;
  /** Comma-separated admin tokens (SLUICE_ADMIN_TOKEN). */
  readonly adminTokens: string | undefined;
  /**
   * The token nodes of one tree share for node-to-node pushes (status, reports): a node
   * sends it to its upstream and accepts it from its children (SLUICE_PEER_TOKEN). It grants
   * no administrative right.
   */
  readonly peerToken?: string | undefined;
  /** Comma-separated tokens this node accepts from endpoints reporting (SLUICE_ENDPOINT_TOKEN). */
  readonly endpointTokens?: string | undefined;
  /**
   * The peer tokens of this node's downstream nodes, one per node: `NAME=TOKEN,...`
   * (SLUICE_PEER_TOKENS). A push with one of them is from that node and no other. Needed
   * only where TLS ends before the node (mutual TLS identifies nodes by certificate).
   */
  readonly childTokens?: string | undefined;
  /** This node's certificate and private key, PEM files (SLUICE_TLS_CERT, SLUICE_TLS_KEY). */
  readonly tlsCertPath?: string | undefined;
  readonly tlsKeyPath?: string | undefined;
  /**
   * A directory of node certificates, `NAME.crt` and `NAME.key` (as "sluice cert node --out
   * DIR" and the demo write them), for files that serve several nodes (SLUICE_TLS_DIR); a
   * node's SLUICE_TLS_CERT/KEY win over it. See `secretsForNode`.
   */
  readonly tlsDir?: string | undefined;
  /** The primary's APT repository keys (SLUICE_APT_KEY): a directory of per-ring armored OpenPGP private keys (`RING.key`), or one key file for every ring. */
  readonly aptKeyPath?: string | undefined;
  /** The console's client secret at the identity provider (SLUICE_OIDC_CLIENT_SECRET); none: a public client, PKCE only. */
  readonly oidcClientSecret?: string | undefined;
}

const KEYS = ['SLUICE_SIGNING_KEY', 'SLUICE_ADMIN_TOKEN', 'SLUICE_PEER_TOKEN', 'SLUICE_ENDPOINT_TOKEN', 'SLUICE_PEER_TOKENS', 'SLUICE_TLS_CERT', 'SLUICE_TLS_KEY', 'SLUICE_TLS_DIR', 'SLUICE_APT_KEY', 'SLUICE_OIDC_CLIENT_SECRET'] as const;

/**
 * Reads secrets from the environment, falling back to a secrets file in environment-file
 * syntax (`KEY=VALUE` lines, `#` comments, as systemd's EnvironmentFile): the file named
 * by `file`, else by SLUICE_SECRETS_FILE. The environment wins over the file.
 */
export function loadSecrets(env: NodeJS.ProcessEnv, file: string | undefined = env.SLUICE_SECRETS_FILE || undefined): Secrets {
  const fromFile = file ? parseEnvFile(file) : {};
  const pick = (k: (typeof KEYS)[number]) => env[k] || fromFile[k] || undefined;
  return {
    signingKeyPath: pick('SLUICE_SIGNING_KEY'),
    adminTokens: pick('SLUICE_ADMIN_TOKEN'),
    peerToken: pick('SLUICE_PEER_TOKEN'),
    endpointTokens: pick('SLUICE_ENDPOINT_TOKEN'),
    childTokens: pick('SLUICE_PEER_TOKENS'),
    tlsCertPath: pick('SLUICE_TLS_CERT'),
    tlsKeyPath: pick('SLUICE_TLS_KEY'),
    tlsDir: pick('SLUICE_TLS_DIR'),
    aptKeyPath: pick('SLUICE_APT_KEY'),
    oidcClientSecret: pick('SLUICE_OIDC_CLIENT_SECRET'),
  };
}

/**
 * The secrets as node `name` uses them: without SLUICE_TLS_CERT/KEY, its pair in SLUICE_TLS_DIR
 * (NAME.crt, NAME.key) when that is set. One secrets file can then serve every node of a
 * machine, as the demo's does ("sluice serve --node hq --secrets data/demo.env").
 */
export function secretsForNode(secrets: Secrets, name: string): Secrets {
  if (secrets.tlsCertPath || secrets.tlsKeyPath || !secrets.tlsDir) return secrets;
  return { ...secrets, tlsCertPath: path.join(secrets.tlsDir, `${name}.crt`), tlsKeyPath: path.join(secrets.tlsDir, `${name}.key`) };
}

export function parseEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SluiceError('SECRETS_INVALID', `cannot read the secrets file ${file} (${describeFsError(err)}); check the path given by --secrets or SLUICE_SECRETS_FILE`);
  }
  const out: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const m = /^([A-Z_][A-Z0-9_]*)\s*=\s*(.*)$/.exec(t);
    if (!m) throw new SluiceError('SECRETS_INVALID', `${file}:${i + 1}: expected KEY=VALUE`);
    out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  });
  return out;
}
