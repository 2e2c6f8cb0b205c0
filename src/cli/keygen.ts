import type { Command } from 'commander';
import { generateKeyPair } from '../catalog/keys.js';
import { SluiceError } from '../errors.js';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('write an Ed25519 catalog key pair: DIR/catalog.key (private, 0600) and DIR/catalog.pub')
    .requiredOption('--out <dir>', 'directory for the key pair')
    .option('--force', 'replace an existing pair (every node then needs the new catalog.pub)')
    .option('--name <name>', 'write DIR/NAME.key and DIR/NAME.pub instead (e.g. root-1 for an offline root key, catalog-2 for a new online key)')
    .option('--apt', 'write the APT repository key instead: DIR/apt.key (armored OpenPGP, private, 0600) and DIR/apt.asc (what endpoints pin with signed-by=)')
    .action(async (opts: { out: string; force?: boolean; name?: string; apt?: boolean }) => {
      if (opts.name !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(opts.name)) throw new SluiceError('USAGE', `--name ${opts.name}: expected letters, digits, ".", "_" or "-"`);
      if (opts.apt) {
        const { generateRepositoryKey } = await import('../feeds/repository-key.js');
        const out = await generateRepositoryKey(opts.out, opts.name ?? 'apt', opts.force);
        process.stdout.write(`wrote ${out.privatePath} (private: SLUICE_APT_KEY on the primary only, mode 0600)\nwrote ${out.publicPath} (public: endpoints pin it, e.g. /etc/apt/keyrings/sluice.asc with signed-by=; every node also serves it at /apt/key.asc)\n`);
        return;
      }
      const { privatePath, publicPath } = generateKeyPair(opts.out, { force: opts.force, name: opts.name });
      process.stdout.write(`wrote ${privatePath} (private: keep it on the primary only, mode 0600)\nwrote ${publicPath} (public: trust.catalogKey on every node, or a key in a root document: sluice root new)\n`);
    });
}
