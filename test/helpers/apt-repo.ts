import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { onTeardown, tempDir } from './env.js';

/** The Debian tools the APT tests drive; undefined when all are there. */
export function aptToolsMissing(): string | undefined {
  const missing = ['dpkg-deb', 'apt-ftparchive', 'gpg', 'xz'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length ? `missing ${missing.join(', ')} (scripts/install-test-tools.sh installs them)` : undefined;
}

export interface FixturePackage {
  readonly name: string;
  readonly version: string;
  readonly arch?: string;
  /** Random bytes shipped in the package, to make it this much larger (not packable). */
  readonly payloadBytes?: number;
  /** Its control file's Source field (`openssl`, or `openssl (3.0.15-1)`). */
  readonly source?: string;
  /** Its control file's Depends field. */
  readonly depends?: string;
}

/**
 * A vendor APT repository built by the test with the real tools: `dpkg-deb` for each
 * package, `apt-ftparchive` for Packages and Release, `gpg` with a throwaway key for
 * InRelease, served over HTTP on loopback. Each `publish` writes a new signed snapshot.
 */
export class FixtureAptRepo {
  readonly dir = tempDir('sluice-apt-');
  readonly keyringPath: string;
  private readonly gnupg: string;
  private server: Server | undefined;
  /** Requests served, by path: tests count what a sync fetched. */
  readonly served: string[] = [];
  /** Paths answered with these bytes instead of the file (a tampering mirror). */
  readonly overrides = new Map<string, Buffer>();
  /** Paths whose second half is held back this long (a slow vendor). */
  readonly slow = new Map<string, number>();

  constructor() {
    this.gnupg = path.join(this.dir, '.gnupg');
    mkdirSync(this.gnupg, { mode: 0o700 });
    this.gpg(['--quick-gen-key', 'Sluice Test Archive <archive@example.invalid>', 'ed25519', 'sign', 'never']);
    this.keyringPath = path.join(tempDir('sluice-keyring-'), 'vendor.gpg');
    writeFileSync(this.keyringPath, this.gpg(['--export']));
  }

  /** A second, unrelated key's keyring (signatures by this repository fail against it). */
  static otherKeyring(): string {
    return new FixtureAptRepo().keyringPath;
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
      const delay = this.slow.get(rel);
      if (!delay) return void createReadStream(file).pipe(res);
      const bytes = readFileSync(file);
      res.write(bytes.subarray(0, bytes.length >> 1));
      setTimeout(() => res.end(bytes.subarray(bytes.length >> 1)), delay);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    onTeardown(() => new Promise<void>((resolve) => this.server!.close(() => resolve())));
  }

  /** Builds a .deb in the pool; returns its path in the repository, bytes and sha256. */
  addPackage(p: FixturePackage): { filename: string; sha256: string; bytes: Buffer } {
    const arch = p.arch ?? 'amd64';
    const root = path.join(tempDir('sluice-deb-'), 'pkg');
    mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
    mkdirSync(path.join(root, 'usr/share/doc', p.name), { recursive: true });
    writeFileSync(path.join(root, 'DEBIAN/control'), `Package: ${p.name}\n${p.source ? `Source: ${p.source}\n` : ''}Version: ${p.version}\nArchitecture: ${arch}\nMaintainer: Sluice Tests <tests@example.invalid>\n${p.depends ? `Depends: ${p.depends}\n` : ''}Section: utils\nDescription: a package for Sluice's tests\n carried by a fixture repository\n .\n version ${p.version}\n`);
    writeFileSync(path.join(root, 'usr/share/doc', p.name, 'README'), `${p.name} ${p.version}\n`);
    if (p.payloadBytes) writeFileSync(path.join(root, 'usr/share/doc', p.name, 'payload.bin'), randomBytes(p.payloadBytes));
    const filename = `pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version.replace(/^\d+:/, '')}_${arch}.deb`;
    mkdirSync(path.dirname(path.join(this.dir, filename)), { recursive: true });
    execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, path.join(this.dir, filename)], { stdio: 'ignore' });
    const bytes = readFileSync(path.join(this.dir, filename));
    return { filename, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  /**
   * Writes the suite's indexes for what the pool holds (every .deb under pool/), signed:
   * Packages and Packages.xz per architecture, by-hash copies, Release, InRelease.
   */
  publish(o: { suite?: string; archs?: readonly string[]; date?: Date; validSeconds?: number | null } = {}): void {
    const suite = o.suite ?? 'stable';
    const dists = path.join(this.dir, 'dists', suite);
    for (const arch of o.archs ?? ['amd64']) {
      const dir = path.join(dists, 'main', `binary-${arch}`);
      mkdirSync(path.join(dir, 'by-hash', 'SHA256'), { recursive: true });
      const packages = execFileSync('apt-ftparchive', ['--arch', arch, 'packages', 'pool'], { cwd: this.dir });
      writeFileSync(path.join(dir, 'Packages'), packages);
      execFileSync('xz', ['-k', '-f', path.join(dir, 'Packages')]);
      for (const f of ['Packages', 'Packages.xz']) copyFileSync(path.join(dir, f), path.join(dir, 'by-hash', 'SHA256', createHash('sha256').update(readFileSync(path.join(dir, f))).digest('hex')));
    }
    this.release(suite, o);
  }

  /**
   * A signed snapshot whose indexes are the bytes given (paths under dists/SUITE/, e.g.
   * `main/binary-amd64/Packages.xz`): what the vendor's own key signs, however hostile. Every
   * other Packages file of those directories is removed, so the Release lists these alone.
   */
  publishIndexes(files: Readonly<Record<string, Buffer>>, o: { suite?: string; archs?: readonly string[]; date?: Date; validSeconds?: number | null } = {}): void {
    const suite = o.suite ?? 'stable';
    const dists = path.join(this.dir, 'dists', suite);
    for (const dir of new Set(Object.keys(files).map((f) => path.join(dists, path.dirname(f))))) {
      mkdirSync(path.join(dir, 'by-hash', 'SHA256'), { recursive: true });
      for (const f of readdirSync(dir)) if (f.startsWith('Packages')) rmSync(path.join(dir, f));
    }
    for (const [rel, bytes] of Object.entries(files)) {
      const file = path.join(dists, rel);
      writeFileSync(file, bytes);
      copyFileSync(file, path.join(path.dirname(file), 'by-hash', 'SHA256', createHash('sha256').update(bytes).digest('hex')));
    }
    this.release(suite, o);
  }

  /** The by-hash path the current Release names for an index (`main/binary-amd64/Packages.xz`). */
  byHashPath(rel: string, suite = 'stable'): string {
    const hex = createHash('sha256').update(readFileSync(path.join(this.dir, 'dists', suite, rel))).digest('hex');
    return `/dists/${suite}/${path.dirname(rel)}/by-hash/SHA256/${hex}`;
  }

  /** TEXT clear-signed with this repository's key, as an InRelease is. */
  clearsign(text: string | Buffer): Buffer {
    return this.gpg(['--clearsign'], text);
  }

  /** A detached binary signature of DATA by this repository's key, as a Release.gpg is. */
  detachSign(data: string | Buffer): Buffer {
    return this.gpg(['--detach-sign'], data);
  }

  /** Writes Release (from the index files under dists/SUITE) and its InRelease. */
  private release(suite: string, o: { archs?: readonly string[]; date?: Date; validSeconds?: number | null }): void {
    const dists = path.join(this.dir, 'dists', suite);
    const date = (o.date ?? new Date()).toUTCString().replace('GMT', 'UTC');
    // The previous snapshot's Release files would be listed in the new one.
    for (const f of ['Release', 'InRelease']) rmSync(path.join(dists, f), { force: true });
    const release = execFileSync(
      'apt-ftparchive',
      ['-o', `APT::FTPArchive::Release::Suite=${suite}`, '-o', `APT::FTPArchive::Release::Codename=${suite}`, '-o', `APT::FTPArchive::Release::Date=${date}`, ...(o.validSeconds === null ? [] : ['-o', `APT::FTPArchive::Release::ValidTime=${o.validSeconds ?? 86_400}`]), '-o', 'APT::FTPArchive::Release::Acquire-By-Hash=yes', '-o', `APT::FTPArchive::Release::Architectures=${(o.archs ?? ['amd64']).join(' ')}`, '-o', 'APT::FTPArchive::Release::Components=main', 'release', '.'],
      { cwd: dists },
    );
    writeFileSync(path.join(dists, 'Release.tmp'), release);
    renameSync(path.join(dists, 'Release.tmp'), path.join(dists, 'Release'));
    this.gpg(['--yes', '--clearsign', '-o', path.join(dists, 'InRelease'), path.join(dists, 'Release')]);
  }

  private gpg(args: string[], input?: string | Buffer): Buffer {
    return execFileSync('gpg', ['--homedir', this.gnupg, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'ignore'], input, maxBuffer: 64 * 1024 * 1024 });
  }
}

/**
 * An xz compression bomb made by the real `xz` from a stream: `Package:` and `Version:` lines,
 * then `decompressedBytes` of " c" lines (one paragraph of millions of continuation lines);
 * or, `blank`, of empty lines alone (no paragraph at all). xz's fastest preset packs 600 MB
 * of it into ~90 KB in a few seconds.
 */
export function xzBomb(decompressedBytes: number, o: { blank?: boolean } = {}): Buffer {
  const text = o.blank ? `yes ''` : `{ printf 'Package: bomb\\nVersion: 1\\n'; yes ' c'; }`;
  return execFileSync('sh', ['-c', `${text} | head -c ${Math.floor(decompressedBytes)} | xz -0 -T1`], { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
}
