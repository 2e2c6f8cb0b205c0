import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The environment the production unit (deploy/systemd/sluice@.service) gives a node, read from
 * its `Environment=KEY=VALUE` lines: a bench that runs nodes "as the unit runs them" measures
 * what operators get, and stays right when the unit changes.
 */
export function unitEnvironment(): Record<string, string> {
  const unit = readFileSync(fileURLToPath(new URL('../../../deploy/systemd/sluice@.service', import.meta.url)), 'utf8');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)) env[m[1]!] = m[2]!.trim();
  return env;
}

/** The unit's environment as one line for a report: `NODE_OPTIONS=… GLIBC_TUNABLES=…`. */
export function describeEnv(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
}

/** What undoes the unit's settings for a node run with Node.js's and glibc's defaults. */
export function defaultsFor(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(env).map((k) => [k, '']));
}
