import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readPrivateKey, readPublicKey } from '../catalog/keys.js';
import { encodeKey, keyIdOf, rootBodySchema, signRoot, signedRootSchema, type RootBody, type SignedRoot } from '../catalog/root.js';
import { SluiceError, describeFsError } from '../errors.js';
import { parseDuration } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson } from './context.js';
import { PATHS } from '../protocol/paths.js';

/**
 * `sluice root new | sign | apply | show`: the root of trust's life cycle. A new root is
 * written where the offline root keys live, signed there by a threshold of the current root
 * keys and of its own, and applied at the primary, which puts it in the catalog.
 */
export function registerRoot(program: Command): void {
  const root = program.command('root').description('rotate or revoke catalog keys: create, sign and apply the next root of trust');

  common(root.command('new'), { server: true })
    .description('write the next root (unsigned): the current version + 1 with the keys given; sign it with "sluice root sign"')
    .requiredOption('--catalog-key <pub...>', 'public keys allowed to sign the catalog (online, on the primary)')
    .requiredOption('--root-key <pub...>', 'public keys allowed to sign the next root (keep their private halves offline)')
    .option('--threshold <n>', 'root-key signatures a later root needs', '1')
    .option('--expires <duration>', 'lifetime of this root', '365d')
    .option('--from <file>', 'the current root document (default: GET /v1/root of the primary)')
    .requiredOption('--out <file>', 'where to write the new root')
    .action(async (opts: { catalogKey: string[]; rootKey: string[]; threshold: string; expires: string; from?: string; out: string }, cmd: Command) => {
      const current = opts.from ? readRoot(opts.from) : (await clientFor(cmd).getJson<{ root: RootBody }>(PATHS.root)).root;
      const lifetime = parseDuration(opts.expires);
      if (lifetime === undefined) throw new SluiceError('USAGE', `--expires ${opts.expires}: expected a duration such as 365d`);
      const threshold = Number(opts.threshold);
      if (!Number.isInteger(threshold) || threshold < 1 || threshold > opts.rootKey.length) throw new SluiceError('USAGE', `--threshold ${opts.threshold}: expected a whole number from 1 to ${opts.rootKey.length} (the --root-key count)`);
      const keys: Record<string, string> = {};
      const ids = (files: string[]) =>
        files.map((f) => {
          const k = readPublicKey(f, 'a public key');
          keys[keyIdOf(k)] = encodeKey(k);
          return keyIdOf(k);
        });
      const body: RootBody = {
        type: 'sluice-root',
        version: current.version + 1,
        expires: new Date(Date.now() + lifetime).toISOString(),
        keys,
        roles: { root: { keyids: ids(opts.rootKey), threshold }, catalog: { keyids: ids(opts.catalogKey), threshold: 1 } },
      };
      writeFileSync(opts.out, `${JSON.stringify({ ...body, signatures: [] }, null, 2)}\n`);
      const need = current.roles.root.threshold;
      process.stdout.write(`wrote ${opts.out}: root version ${body.version} (unsigned). It needs ${need} signature(s) from the root keys of version ${current.version} and ${threshold} from its own: sluice root sign ${opts.out} --key ROOT.key ...\n`);
    });

  root
    .command('sign')
    .description('add signatures to a root document, with private keys (run where the offline root keys are)')
    .argument('<file>', 'the root document (signed in place)')
    .requiredOption('--key <file...>', 'private keys to sign with')
    .action((file: string, opts: { key: string[] }) => {
      let doc: SignedRoot = readRoot(file);
      for (const k of opts.key) {
        const priv = readPrivateKey(k, 'a root key');
        doc = signRoot(doc, priv, createPublicKey(priv));
      }
      writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
      process.stdout.write(`${file}: ${doc.signatures.length} signature(s); apply it at the primary with: sluice root apply ${file}\n`);
    });

  common(root.command('apply'), { server: true, json: true })
    .description('put a signed root in force at the primary (admin): checked as every node will check it, then relayed through the catalog')
    .argument('<file>', 'the signed root document')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const result = await clientFor(cmd).postJson<{ version: number; seq: number }>(PATHS.root, readRoot(file));
      if (globalOptions(cmd).json) return printJson(result);
      process.stdout.write(`root version ${result.version} is in force (catalog record ${result.seq}); every node and agent follows it on its next sync\n`);
    });

  common(root.command('show'), { server: true })
    .description('print the root of trust in force at a node (the primary unless --node or --server)')
    .option('--node <name>', 'the node to ask, as named in the topology (as for sluice status)')
    .action(async (opts: { node?: string }, cmd: Command) => printJson(await clientFor(cmd, process.env, opts.node).getJson(PATHS.root)));
}

function readRoot(file: string): SignedRoot {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SluiceError('FILE_NOT_READABLE', `cannot read root document ${file}: ${describeFsError(err)}`);
  }
  const withSigs = { signatures: [], ...(raw as object) };
  const parsed = signedRootSchema.safeParse(withSigs);
  if (!parsed.success) {
    const body = rootBodySchema.safeParse(raw);
    const issue = (body.success ? parsed : body).error!.issues[0];
    throw new SluiceError('USAGE', `${file} is not a root document (${issue?.path.join('.')}: ${issue?.message})`);
  }
  return parsed.data;
}
