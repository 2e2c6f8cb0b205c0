import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import semver from 'semver';
import { REPO_ROOT } from '../helpers/env.js';

/** The runtimes Sluice supports (README, deploy guide): every installed package must accept each. */
const SUPPORTED = ['20.18.1', '22.13.0', '24.0.0'];

function packages(dir: string): { name: string; engines?: { node?: string } }[] {
  const out: { name: string; engines?: { node?: string } }[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const full = path.join(dir, entry);
    if (entry.startsWith('@')) {
      out.push(...packages(full));
      continue;
    }
    const manifest = path.join(full, 'package.json');
    if (existsSync(manifest)) out.push(JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; engines?: { node?: string } });
    if (existsSync(path.join(full, 'node_modules'))) out.push(...packages(path.join(full, 'node_modules')));
  }
  return out;
}

it('no installed package declares a Node.js range that leaves out a supported runtime (20, 22, 24), Sluice included', () => {
  const refusing = [JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')), ...packages(path.join(REPO_ROOT, 'node_modules'))]
    .filter((p) => p.engines?.node && SUPPORTED.some((v) => !semver.satisfies(v, p.engines!.node!)))
    .map((p) => `${p.name}: ${p.engines!.node}`);
  assert.deepEqual(refusing, []);
});
