import type { Command } from 'commander';
import { generateKeyPair } from '../catalog/keys.js';
import { existsSync } from 'node:fs';
import { RING_ALL } from '../catalog/records.js';
import { SluiceError } from '../errors.js';
import { loadTopology } from '../topology/load.js';
import { NAME_PATTERN } from '../topology/schema.js';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('write an Ed25519 catalog key pair: DIR/catalog.key (private, 0600) and DIR/catalog.pub; with --apt, the rings\' APT repository keys')
    .requiredOption('--out <dir>', 'directory for the key pair')
    .option('--force', 'replace an existing pair (every node then needs the new catalog.pub)')
    .option('--name <name>', 'write DIR/NAME.key and DIR/NAME.pub instead (e.g. root-1 for an offline root key, catalog-2 for a new online key)')
    .option('--role <role>', 'what the key is for, which decides where it may live: "catalog" (the online key, on the primary) or "root" (an offline root key, on no node); default: root when --name starts with "root", else catalog')
    .option('--apt', 'write the APT repository keys instead, one per ring: DIR/RING.key (armored OpenPGP, private, 0600) and DIR/RING.asc, for "all" and every ring of the topology that lacks one (existing keys are kept and listed)')
    .option('--ring <rings>', 'with --apt: only these rings (comma-separated)')
    .option('-t, --topology <file>', 'with --apt: the topology whose rings get keys', './topology.yaml')
    .action(async (opts: { out: string; force?: boolean; name?: string; apt?: boolean; role?: string; ring?: string; topology: string }) => {
      if (opts.name !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(opts.name)) throw new SluiceError('USAGE', `--name ${opts.name}: expected letters, digits, ".", "_" or "-"`);
      if (opts.apt) return generateAptKeys(opts);
      if (opts.ring !== undefined) throw new SluiceError('USAGE', '--ring goes with --apt (the rings whose APT keys to make)');
      const role = opts.role ?? (opts.name?.startsWith('root') ? 'root' : 'catalog');
      if (role !== 'root' && role !== 'catalog') throw new SluiceError('USAGE', `--role ${role}: expected "catalog" (the online key, on the primary) or "root" (an offline root key)`);
      const { privatePath, publicPath } = generateKeyPair(opts.out, { force: opts.force, name: opts.name });
      process.stdout.write(role === 'root' ? rootKeyAdvice(privatePath, publicPath) : catalogKeyAdvice(privatePath, publicPath, opts.name !== undefined));
    });
}

/** `keygen --apt`: a key per ring, each ring's fingerprint printed so a person can check any copy. */
async function generateAptKeys(opts: { out: string; force?: boolean; ring?: string; topology: string }): Promise<void> {
  const { generateRingKeys } = await import('../feeds/repository-key.js');
  let rings: string[];
  if (opts.ring !== undefined) {
    rings = opts.ring.split(',').map((r) => r.trim()).filter(Boolean);
    const bad = rings.find((r) => !NAME_PATTERN.test(r));
    if (bad !== undefined || rings.length === 0) throw new SluiceError('USAGE', `--ring ${opts.ring}: expected ring names separated by commas`);
    // A key may come before its ring is declared; said, since a typo would make a key nobody uses.
    if (existsSync(opts.topology)) {
      const declared = loadTopology(opts.topology).rings;
      const unknown = rings.filter((r) => r !== RING_ALL && !declared.includes(r));
      if (unknown.length) process.stderr.write(`warning: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a ring of ${opts.topology} (its rings: ${declared.join(', ') || 'none'}); its key is made anyway, for a ring you are about to add\n`);
    }
  } else {
    if (!existsSync(opts.topology)) throw new SluiceError('USAGE', `--apt makes a key for each ring of the topology, and ${opts.topology} does not exist; pass -t FILE, or name the rings with --ring pilot,broad`);
    rings = [RING_ALL, ...loadTopology(opts.topology).rings.filter((r) => r !== RING_ALL)];
  }
  const keys = await generateRingKeys(opts.out, rings, opts.force);
  const width = Math.max(...keys.map((k) => k.ring.length));
  process.stdout.write(
    [
      `APT repository keys in ${opts.out}, one per ring (private RING.key: the primary only, mode 0600, SLUICE_APT_KEY=${opts.out}; public RING.asc: where endpoint configuration is made, "sluice apt-source --ring RING"):`,
      ...keys.map((k) => `  ${k.ring.padEnd(width)}  ${k.fingerprint}  ${k.created ? 'created' : 'kept (exists)'}`),
      'Compare these fingerprints with any copy of a key before trusting it ("gpg --show-keys FILE", "sluice root show").',
      '',
    ].join('\n'),
  );
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
