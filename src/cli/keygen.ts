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
    .option('--role <role>', 'what the key is for, which decides where it may live: "catalog" (the online key, on the primary) or "root" (an offline root key, on no node); default: root when --name starts with "root", else catalog')
    .option('--apt', 'write the APT repository key instead: DIR/apt.key (armored OpenPGP, private, 0600) and DIR/apt.asc (what endpoints pin with signed-by=)')
    .action(async (opts: { out: string; force?: boolean; name?: string; apt?: boolean; role?: string }) => {
      if (opts.name !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(opts.name)) throw new SluiceError('USAGE', `--name ${opts.name}: expected letters, digits, ".", "_" or "-"`);
      if (opts.apt) {
        const { generateRepositoryKey } = await import('../feeds/repository-key.js');
        const out = await generateRepositoryKey(opts.out, opts.name ?? 'apt', opts.force);
        process.stdout.write(`wrote ${out.privatePath} (private: SLUICE_APT_KEY on the primary only, mode 0600)\nwrote ${out.publicPath} (public: endpoints pin it, e.g. /etc/apt/keyrings/sluice.asc with signed-by=; every node also serves it at /apt/key.asc)\n`);
        return;
      }
      const role = opts.role ?? (opts.name?.startsWith('root') ? 'root' : 'catalog');
      if (role !== 'root' && role !== 'catalog') throw new SluiceError('USAGE', `--role ${role}: expected "catalog" (the online key, on the primary) or "root" (an offline root key)`);
      const { privatePath, publicPath } = generateKeyPair(opts.out, { force: opts.force, name: opts.name });
      process.stdout.write(role === 'root' ? rootKeyAdvice(privatePath, publicPath) : catalogKeyAdvice(privatePath, publicPath, opts.name !== undefined));
    });
}

/** Where an offline root key belongs: on no running node; its public half goes into a root document. */
function rootKeyAdvice(privatePath: string, publicPath: string): string {
  return [
    `wrote ${privatePath} (private: an OFFLINE root key. Move it off this machine to offline media or a safe, and keep it on no node, the primary included; it only signs the next root: sluice root sign ROOT.json --key ${privatePath})`,
    `wrote ${publicPath} (public: list it in the next root document: sluice root new --root-key ${publicPath} ...; nodes never need it in the topology)`,
    '',
  ].join('\n');
}

/** Where the online catalog key belongs: the primary's SLUICE_SIGNING_KEY. */
function catalogKeyAdvice(privatePath: string, publicPath: string, named: boolean): string {
  return [
    `wrote ${privatePath} (private: the ONLINE catalog key: on the primary only, mode 0600, as SLUICE_SIGNING_KEY)`,
    named
      ? `wrote ${publicPath} (public: list it in the next root document: sluice root new --catalog-key ${publicPath} ...; nodes learn it from the catalog)`
      : `wrote ${publicPath} (public: trust.catalogKey on every node; it is root version 1, where this key holds both roles until you move to a root with offline keys: docs/keys.md)`,
    '',
  ].join('\n');
}
