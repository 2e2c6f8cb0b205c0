import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { readPublicKey } from '../catalog/keys.js';
import { renderTree } from '../topology/tree.js';
import { common, globalOptions, topologyOf } from './context.js';

/** `sluice check`: validates the topology and prints the tree; every error at once. */
export function registerCheck(program: Command): void {
  common(program.command('check'))
    .description('validate the topology and print the tree of nodes')
    .action((_opts, cmd: Command) => {
      const topology = topologyOf(cmd);
      const keyPath = topology.trust.catalogKeyPath;
      const shown = path.relative(process.cwd(), keyPath) || keyPath;
      const warnings: string[] = [];
      if (!existsSync(keyPath)) {
        warnings.push(`warning: trust.catalogKey ${shown} does not exist yet; create the pair with "sluice keygen --out ${path.dirname(shown)}" (npm start does this on first run)`);
      } else {
        readPublicKey(keyPath, 'the catalog public key (trust.catalogKey)');
      }
      process.stdout.write(`${renderTree(topology)}\n`);
      const n = topology.nodes.size;
      process.stdout.write(`\n${globalOptions(cmd).topology}: ok (${n} node${n === 1 ? '' : 's'}, ${topology.regions.size} region${topology.regions.size === 1 ? '' : 's'})\n`);
      for (const w of warnings) process.stderr.write(`${w}\n`);
    });
}
