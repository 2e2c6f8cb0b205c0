import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { RING_ALL } from '../catalog/records.js';
import { SluiceError, describeFsError } from '../errors.js';
import { loadKeyring } from '../feeds/openpgp-signature.js';
import { fingerprintOf, ringKeyPaths } from '../feeds/repository-key.js';
import { NAME_PATTERN } from '../topology/schema.js';
import type { Feed } from '../topology/types.js';
import { serverUrl } from './apt-source.js';
import { common, globalOptions, topologyOf } from './context.js';

/** Where the keys are on an endpoint (the usual place for dnf's keys). */
const DEFAULT_KEY_DIR = '/etc/pki/rpm-gpg';

/**
 * `sluice rpm-repo --ring R --server URL --out DIR`: an endpoint's dnf configuration for its
 * ring, made at head office where the topology and the rings' public keys are: a `.repo` file
 * with one repository per vendor RPM repository (baseurl https://NODE/rpm/RING/REPO,
 * gpgcheck=1 and repo_gpgcheck=1), the ring's public key (it signs repomd.xml) and each RPM
 * feed's vendor keys (they sign the packages), armored, as files beside it. dnf reads keys
 * from files or URLs only (`gpgkey=file://…`, never inline), so the three travel together with
 * configuration management to the endpoint: the `.repo` to /etc/yum.repos.d/, the keys to
 * `--key-dir` (default /etc/pki/rpm-gpg), where the `.repo` names them. An endpoint's first
 * trust never comes from the node it will trust.
 */
export function registerRpmRepo(program: Command): void {
  common(program.command('rpm-repo'))
    .description("write an endpoint's dnf configuration for its ring: a .repo file (gpgcheck and repo_gpgcheck on) and, beside it, the ring's key and the vendors' keys it names, made at head office")
    .requiredOption('--ring <ring>', 'the ring the endpoint belongs to ("all" for packages approved for every ring only)')
    .option('--server <url>', 'the node the endpoint installs from (its nearest node), e.g. https://branch.example:7402')
    .option('--node <name>', 'the node the endpoint installs from, by its topology name (its url)')
    .option('--repos <list>', 'the RPM repositories to take, comma-separated (default: every repository of the RPM feeds)')
    .option('--keys <dir>', "the rings' public keys (RING.asc, from sluice keygen --apt); default: trust.aptKeys of the topology")
    .option('--key-dir <dir>', `where the keys will be on the endpoint (the .repo names them there)`, DEFAULT_KEY_DIR)
    .option('--ca <file>', 'the CA bundle the endpoint trusts the nodes with, on the endpoint (sslcacert)', '/etc/sluice/ca.pem')
    .option('--out <dir>', 'write sluice-RING.repo and the key files into this directory instead of printing the .repo file')
    .action(async (opts: { ring: string; server?: string; node?: string; repos?: string; keys?: string; keyDir: string; ca: string; out?: string }, cmd: Command) => {
      const ring = opts.ring;
      if (!NAME_PATTERN.test(ring)) throw new SluiceError('USAGE', `--ring ${ring}: expected a ring name`);
      if (!path.isAbsolute(opts.keyDir)) throw new SluiceError('USAGE', `--key-dir ${opts.keyDir}: expected an absolute path on the endpoint, e.g. ${DEFAULT_KEY_DIR}`);
      const topology = topologyOf(cmd);
      if (ring !== RING_ALL && !topology.rings.includes(ring)) throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring}"; expected "all" or one of: ${topology.rings.join(', ') || '(no rings in the topology)'}`);
      const base = serverUrl(opts, topology, ring);
      // What is written into the .repo, which dnf reads line by line: a line break would add options of the caller's choosing (gpgcheck=0).
      for (const [flag, value] of [['--ca', opts.ca], ['--key-dir', opts.keyDir]] as const) if (/[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(value)) throw new SluiceError('USAGE', `${flag} ${JSON.stringify(value.slice(0, 100))}: a path written into the .repo file holds no spaces, line breaks or control characters`);
      const feeds = [...topology.feeds.values()].filter((f) => f.type === 'rpm');
      const all = new Map(feeds.flatMap((f) => [...f.repos.keys()].map((repo) => [repo, f] as const)));
      if (all.size === 0) throw new SluiceError('USAGE', 'the topology has no feed of type rpm: there is no dnf repository to point an endpoint at');
      const wanted = opts.repos ? opts.repos.split(',').map((r) => r.trim()).filter(Boolean) : [...all.keys()];
      const unknown = wanted.find((r) => !all.has(r));
      if (unknown !== undefined) throw new SluiceError('USAGE', `--repos: no RPM feed has a repository "${unknown}"; the feeds have ${[...all.keys()].join(', ')}`);
      const keyDir = opts.keys ?? topology.trust.aptKeysDir;
      if (!keyDir) throw new SluiceError('USAGE', "where are the rings' public keys? pass --keys DIR (the directory sluice keygen --apt wrote) or set trust.aptKeys in the topology");
      const keyPath = existsSync(keyDir) && statSync(keyDir).isFile() ? keyDir : ringKeyPaths(keyDir, ring).publicPath;
      let ringKey: string;
      try {
        ringKey = readFileSync(keyPath, 'utf8');
      } catch (err) {
        throw new SluiceError('KEY_MISSING', `cannot read ring ${ring}'s public key ${keyPath} (${describeFsError(err)}); make the rings' keys with "sluice keygen --apt --out DIR" and pass --keys DIR (or set trust.aptKeys)`);
      }
      const fingerprint = await fingerprintOf(ringKey);
      const used = [...new Set(wanted.map((r) => all.get(r)!))];
      // Each vendor's keys, armored as dnf imports them (a keyring may be binary).
      const vendorKeys = new Map<string, string>();
      for (const feed of used) vendorKeys.set(feed.name, (await loadKeyring(feed.keyringPath)).map((k) => k.armor()).join('\n'));
      const files = { ring: `RPM-GPG-KEY-sluice-${ring}`, vendor: (f: Feed) => `RPM-GPG-KEY-sluice-feed-${f.name}` };
      const text = repoFile({ ring, base, fingerprint, ca: opts.ca, repos: wanted.map((repo) => ({ repo, keys: [files.ring, files.vendor(all.get(repo)!)].map((k) => `file://${path.posix.join(opts.keyDir, k)}`) })) });
      if (!opts.out) return void process.stdout.write(text);
      mkdirSync(opts.out, { recursive: true });
      const repoPath = path.join(opts.out, `sluice-${ring}.repo`);
      writeFileSync(repoPath, text, { mode: 0o644 });
      writeFileSync(path.join(opts.out, files.ring), ringKey, { mode: 0o644 });
      for (const feed of used) writeFileSync(path.join(opts.out, files.vendor(feed)), vendorKeys.get(feed.name)!, { mode: 0o644 });
      if (!globalOptions(cmd).json) process.stderr.write(`wrote ${repoPath} (ring ${ring} from ${base}, key ${fingerprint}) and ${used.length + 1} key file(s) beside it: place the .repo in /etc/yum.repos.d/ and the keys in ${opts.keyDir}/\n`);
    });
}

/** A dnf .repo file: one section per repository, both signature checks on. */
export function repoFile(o: { ring: string; base: string; fingerprint: string; ca: string; repos: readonly { repo: string; keys: readonly string[] }[] }): string {
  return [
    `# Sluice: ring ${o.ring}, installed from ${o.base}. Made at head office by "sluice rpm-repo".`,
    `# repomd.xml is signed by the ring's key (fingerprint ${o.fingerprint}: compare it with "sluice keygen --apt"`,
    '# or "sluice root show"); packages by their vendor\'s keys. Both key files travel with this file.',
    '',
    ...o.repos.flatMap(({ repo, keys }) => [
      `[sluice-${o.ring}-${repo}]`,
      `name=Sluice ${o.ring}: ${repo}`,
      `baseurl=${o.base}/rpm/${o.ring}/${repo}`,
      'enabled=1',
      'gpgcheck=1',
      'repo_gpgcheck=1',
      `gpgkey=${keys.join(' ')}`,
      ...(o.base.startsWith('https:') ? [`sslcacert=${o.ca}`] : []),
      // A ring's repository changes when a person approves: look at least hourly.
      'metadata_expire=1h',
      'skip_if_unavailable=False',
      '',
    ]),
  ].join('\n');
}
