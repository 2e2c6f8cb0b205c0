import type { Command } from 'commander';
import { generateKeyPair } from '../catalog/keys.js';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('write an Ed25519 catalog key pair: DIR/catalog.key (private, 0600) and DIR/catalog.pub')
    .requiredOption('--out <dir>', 'directory for the key pair')
    .option('--force', 'replace an existing pair (every node then needs the new catalog.pub)')
    .action((opts: { out: string; force?: boolean }) => {
      const { privatePath, publicPath } = generateKeyPair(opts.out, { force: opts.force });
      process.stdout.write(`wrote ${privatePath} (private: keep it on the primary only, mode 0600)\nwrote ${publicPath} (public: point trust.catalogKey at it on every node)\n`);
    });
}
