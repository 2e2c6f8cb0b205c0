import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { onTeardown, tempDir } from './env.js';

/** The RPM tools the dnf tests drive; undefined when all are there. */
export function rpmToolsMissing(): string | undefined {
  const missing = ['rpmbuild', 'rpmsign', 'createrepo_c', 'modifyrepo_c', 'gpg'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length ? `missing ${missing.join(', ')} (scripts/install-test-tools.sh installs them)` : undefined;
}

export interface FixtureRpm {
  readonly name: string;
  /** `VERSION-RELEASE`, with `EPOCH:` in front when not 0. */
  readonly version: string;
  readonly arch?: string;
  /** Requires lines. */
  readonly requires?: readonly string[];
  /** Random bytes shipped in the package, to make it this much larger. */
  readonly payloadBytes?: number;
  /** Leave it unsigned. */
  readonly unsigned?: boolean;
}

export interface BuiltRpm {
  readonly name: string;
  readonly epoch: string;
  readonly version: string;
  readonly release: string;
  readonly arch: string;
  /** Path under the repository (`Packages/NAME-V-R.ARCH.rpm`). */
  readonly href: string;
  readonly file: string;
  readonly bytes: Buffer;
  readonly sha256: string;
  /** The catalog id Sluice gives it: `name@[epoch:]version-release`. */
  readonly id: string;
}

export interface FixtureAdvisory {
  readonly id: string;
  readonly type?: 'security' | 'bugfix' | 'enhancement';
  readonly severity?: string;
  readonly title?: string;
  readonly cves?: readonly string[];
  readonly packages: readonly BuiltRpm[];
}

/**
 * A vendor's RPM repositories built by the test with the real tools: `rpmbuild` for each
 * package, `rpmsign` with a throwaway gpg key, `createrepo_c` (no deltas, no sqlite) for the
 * repodata, `modifyrepo_c` for updateinfo.xml, and `gpg --detach-sign --armor` for
 * repomd.xml.asc; served over HTTP on loopback. Each `publish` writes a new snapshot.
 */
export class FixtureRpmRepo {
  readonly dir = tempDir('sluice-rpm-');
  readonly keyringPath: string;
  /** The key's armored public half, as a vendor publishes it (RPM-GPG-KEY-...). */
  readonly armoredKey: string;
  readonly gnupg: string;
  private server: Server | undefined;
  /** Requests served, by path. */
  readonly served: string[] = [];
  /** Paths answered with these bytes instead of the file (a tampering mirror). */
  readonly overrides = new Map<string, Buffer>();

  constructor() {
    this.gnupg = path.join(this.dir, '.gnupg');
    mkdirSync(this.gnupg, { mode: 0o700 });
    this.gpg(['--quick-gen-key', 'Sluice Test Vendor <rpm@example.invalid>', 'ed25519', 'sign', 'never']);
    this.keyringPath = path.join(tempDir('sluice-rpmkeyring-'), 'RPM-GPG-KEY-vendor');
    this.armoredKey = this.gpg(['--armor', '--export']).toString();
    writeFileSync(this.keyringPath, this.armoredKey);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      this.served.push(rel);
      const override = this.overrides.get(rel);
      if (override) return void res.end(override);
      const file = path.join(this.dir, rel);
      if (!file.startsWith(this.dir + path.sep) || rel.includes('/.gnupg') || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404);
        return void res.end();
      }
      res.writeHead(200, { 'content-length': statSync(file).size });
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    onTeardown(() => new Promise<void>((resolve) => this.server!.close(() => resolve())));
  }

  /** Builds (and signs) an rpm into REPO/Packages/; `repo` is the repository's path under the url ('' for the url itself). */
  addPackage(p: FixtureRpm, repo = ''): BuiltRpm {
    const arch = p.arch ?? 'x86_64';
    const m = /^(?:(\d+):)?(.+)-([^-]+)$/.exec(p.version);
    if (!m) throw new Error(`${p.version}: expected [EPOCH:]VERSION-RELEASE`);
    const [epoch, version, release] = [m[1] ?? '0', m[2]!, m[3]!];
    const top = tempDir('sluice-rpmbuild-');
    for (const d of ['SPECS', 'BUILD', 'RPMS', 'SRPMS', 'SOURCES', 'BUILDROOT']) mkdirSync(path.join(top, d));
    const payload = p.payloadBytes ? `head -c ${p.payloadBytes} /dev/urandom > %{buildroot}/usr/share/${p.name}/payload.bin\n` : '';
    writeFileSync(
      path.join(top, 'SPECS', 'p.spec'),
      [
        `Name: ${p.name}`,
        ...(epoch !== '0' ? [`Epoch: ${epoch}`] : []),
        `Version: ${version}`,
        `Release: ${release}`,
        `Summary: ${p.name}, a package for Sluice's tests`,
        'License: MIT',
        'URL: https://example.invalid/',
        // noarch is a BuildArch; any other is the build's target (an x86_64 host builds aarch64 packages of files alone).
        ...(arch === 'noarch' ? ['BuildArch: noarch'] : []),
        'AutoReqProv: no',
        ...(p.requires ?? []).map((r) => `Requires: ${r}`),
        '%description',
        `Carried by a fixture repository, version ${p.version}.`,
        '%install',
        `mkdir -p %{buildroot}/usr/share/${p.name} %{buildroot}/etc/${p.name}`,
        `echo '${p.name} ${p.version}' > %{buildroot}/usr/share/${p.name}/README`,
        `echo 'version=${p.version}' > %{buildroot}/etc/${p.name}/${p.name}.conf`,
        payload,
        '%files',
        `/usr/share/${p.name}`,
        `%config(noreplace) /etc/${p.name}/${p.name}.conf`,
        `%dir /etc/${p.name}`,
        '%changelog',
        `* Mon Jan 01 2024 Sluice Tests <tests@example.invalid> - ${version}-${release}`,
        `- ${p.name} ${p.version}`,
        '',
      ].join('\n'),
    );
    execFileSync('rpmbuild', ['--target', arch, '--define', `_topdir ${top}`, '--define', '_build_id_links none', '--quiet', '-bb', path.join(top, 'SPECS', 'p.spec')], { stdio: 'ignore' });
    const built = path.join(top, 'RPMS', arch, `${p.name}-${version}-${release}.${arch}.rpm`);
    const href = `Packages/${p.name}-${version}-${release}.${arch}.rpm`;
    const file = path.join(this.dir, repo, href);
    mkdirSync(path.dirname(file), { recursive: true });
    copyFileSync(built, file);
    rmSync(top, { recursive: true, force: true });
    if (!p.unsigned) this.sign(file);
    const bytes = readFileSync(file);
    return { name: p.name, epoch, version, release, arch, href, file, bytes, sha256: sha256(bytes), id: `${p.name}@${epoch === '0' ? '' : `${epoch}:`}${version}-${release}` };
  }

  /** Signs (or re-signs, replacing its signature) an rpm file with this repository's key. */
  sign(file: string): void {
    execFileSync('rpmsign', ['--define', '__gpg /usr/bin/gpg', '--define', `_gpg_path ${this.gnupg}`, '--define', '_gpg_name Sluice Test Vendor', '--addsign', file], { stdio: 'ignore', env: { ...process.env, GNUPGHOME: this.gnupg } });
  }

  /**
   * Writes REPO/repodata for what REPO/Packages holds: createrepo_c without deltas or sqlite,
   * `compress` for primary, filelists and other; updateinfo.xml from `advisories` with
   * modifyrepo_c; repomd.xml.asc unless `unsignedMetadata`.
   */
  publish(o: { repo?: string; advisories?: readonly FixtureAdvisory[]; compress?: 'gz' | 'xz' | 'zstd'; unsignedMetadata?: boolean; revision?: number } = {}): void {
    const root = path.join(this.dir, o.repo ?? '');
    rmSync(path.join(root, 'repodata'), { recursive: true, force: true });
    execFileSync('createrepo_c', ['--no-database', '--quiet', '--general-compress-type', o.compress === 'zstd' ? 'gz' : (o.compress ?? 'gz'), ...(o.revision !== undefined ? ['--revision', String(o.revision)] : []), root], { stdio: 'ignore' });
    // Debian's createrepo_c has no zstd (Fedora's default since 2023): recompressed with the real zstd, repomd.xml rewritten to match.
    if (o.compress === 'zstd') recompressZstd(path.join(root, 'repodata'));
    if (o.advisories?.length) {
      const xml = path.join(tempDir('sluice-updateinfo-'), 'updateinfo.xml');
      writeFileSync(xml, updateinfoXml(o.advisories));
      execFileSync('modifyrepo_c', ['--mdtype=updateinfo', `--compress-type=${o.compress ?? 'gz'}`, xml, path.join(root, 'repodata')], { stdio: 'ignore' });
    }
    if (!o.unsignedMetadata) this.signRepomd(o.repo);
  }

  /** Signs REPO/repodata/repomd.xml as it is now (repomd.xml.asc, armored). */
  signRepomd(repo = ''): void {
    const root = path.join(this.dir, repo);
    this.gpg(['--yes', '--armor', '--detach-sign', '-o', path.join(root, 'repodata', 'repomd.xml.asc'), path.join(root, 'repodata', 'repomd.xml')]);
  }

  /** The repodata file of `type` the current repomd.xml names (its path under the url). */
  dataPath(type: string, repo = ''): string {
    const repomd = readFileSync(path.join(this.dir, repo, 'repodata', 'repomd.xml'), 'utf8');
    const m = new RegExp(`<data type="${type}">[\\s\\S]*?<location href="([^"]+)"`).exec(repomd);
    if (!m) throw new Error(`no ${type} in repomd.xml`);
    return `/${repo ? `${repo}/` : ''}${m[1]}`;
  }

  listFiles(repo = ''): string[] {
    return readdirSync(path.join(this.dir, repo, 'repodata'));
  }

  private gpg(args: string[], input?: string | Buffer): Buffer {
    return execFileSync('gpg', ['--homedir', this.gnupg, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'ignore'], input, maxBuffer: 64 * 1024 * 1024 });
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Each .xml.gz of a repodata directory as .xml.zst (the real zstd), repomd.xml's checksum, size and location updated. */
function recompressZstd(repodata: string): void {
  let repomd = readFileSync(path.join(repodata, 'repomd.xml'), 'utf8');
  for (const f of readdirSync(repodata).filter((x) => x.endsWith('.xml.gz'))) {
    const gz = readFileSync(path.join(repodata, f));
    const zst = execFileSync('sh', ['-c', 'gzip -dc | zstd -q -c'], { input: gz, maxBuffer: 256 * 1024 * 1024 });
    const name = `${sha256(zst)}-${f.replace(/^[0-9a-f]{64}-/, '').replace(/\.gz$/, '.zst')}`;
    writeFileSync(path.join(repodata, name), zst);
    rmSync(path.join(repodata, f));
    repomd = repomd.replace(`<checksum type="sha256">${sha256(gz)}</checksum>`, `<checksum type="sha256">${sha256(zst)}</checksum>`).replace(`repodata/${f}"`, `repodata/${name}"`).replace(new RegExp(`(repodata/${name}"/>\\s*<timestamp>\\d+</timestamp>\\s*<size>)${gz.length}(</size>)`), `$1${zst.length}$2`);
  }
  writeFileSync(path.join(repodata, 'repomd.xml'), repomd);
}

/** updateinfo.xml as Fedora and Red Hat write it. */
export function updateinfoXml(advisories: readonly FixtureAdvisory[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', '<updates>'];
  for (const a of advisories) {
    out.push(
      `  <update from="security@example.invalid" status="stable" type="${a.type ?? 'security'}" version="2.0">`,
      `    <id>${esc(a.id)}</id>`,
      `    <title>${esc(a.title ?? `${a.severity ?? 'Important'}: ${a.packages[0]?.name ?? ''} update`)}</title>`,
      '    <issued date="2024-01-01 00:00:00"/>',
      '    <updated date="2024-01-02 00:00:00"/>',
      `    <severity>${esc(a.severity ?? 'Important')}</severity>`,
      '    <summary>A fix for tests.</summary>',
      `    <description>${esc(`Fixes ${(a.cves ?? []).join(', ') || 'a bug'}.`)}</description>`,
      '    <references>',
      ...(a.cves ?? []).map((c) => `      <reference href="https://example.invalid/${esc(c)}" id="${esc(c)}" type="cve" title="${esc(c)}"/>`),
      '    </references>',
      '    <pkglist>',
      '      <collection short="fixture">',
      '        <name>Fixture</name>',
      ...a.packages.map((p) => `        <package name="${esc(p.name)}" version="${esc(p.version)}" release="${esc(p.release)}" epoch="${p.epoch}" arch="${p.arch}" src="${esc(`${p.name}-${p.version}-${p.release}.src.rpm`)}">\n          <filename>${esc(path.basename(p.href))}</filename>\n        </package>`),
      '      </collection>',
      '    </pkglist>',
      '  </update>',
    );
  }
  out.push('</updates>', '');
  return out.join('\n');
}

/** The bytes of `rpm` re-signed by `other`'s key (its signature replaced), as a compromised mirror or build would serve them. */
export function resignedBy(rpm: BuiltRpm, other: FixtureRpmRepo): Buffer {
  const copy = path.join(tempDir('sluice-resign-'), path.basename(rpm.file));
  copyFileSync(rpm.file, copy);
  other.sign(copy);
  return readFileSync(copy);
}
