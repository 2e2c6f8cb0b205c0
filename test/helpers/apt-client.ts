import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The real apt-get as an endpoint, with a state of its own: its configuration comes from
 * APT_CONFIG (read before anything of the machine's, and pointing every Dir:: at a temporary
 * directory), so nothing of this host's apt is read or touched.
 */
export class AptClient {
  private readonly config: string;

  /** `root`: an empty directory for its state (the caller removes it); `sourcesLine`: a one-line source, or a deb822 .sources file's text. */
  constructor(
    readonly root: string,
    sourcesLine: string,
    o: { installed?: { name: string; version: string; arch?: string }[]; /** CA bundle for https:// nodes. */ ca?: string } = {},
  ) {
    const d = (p: string) => {
      const full = path.join(this.root, p);
      mkdirSync(full, { recursive: true });
      return full;
    };
    const etc = d('etc');
    d('etc/apt.conf.d');
    d('etc/preferences.d');
    d('etc/sources.list.d');
    d('etc/trusted.gpg.d');
    d('state/lists/partial');
    d('cache/archives/partial');
    d('log');
    // A one-line source goes to sources.list; a deb822 one (what "sluice apt-source" writes,
    // the key inline) to sources.list.d/sluice.sources, as an endpoint holds it.
    const deb822 = /^Types:/m.test(sourcesLine);
    writeFileSync(path.join(etc, 'sources.list'), deb822 ? '' : `${sourcesLine}\n`);
    if (deb822) writeFileSync(path.join(etc, 'sources.list.d', 'sluice.sources'), sourcesLine);
    const status = (o.installed ?? []).map((p) => `Package: ${p.name}\nStatus: install ok installed\nPriority: optional\nVersion: ${p.version}\nArchitecture: ${p.arch ?? 'amd64'}\nMaintainer: tests <t@example.invalid>\nDescription: installed earlier\n`).join('\n');
    writeFileSync(path.join(this.root, 'state/status'), status);
    this.config = path.join(etc, 'apt.conf');
    writeFileSync(
      this.config,
      [
        `Dir::State "${this.root}/state";`,
        `Dir::State::status "${this.root}/state/status";`,
        `Dir::Cache "${this.root}/cache";`,
        `Dir::Etc "${etc}";`,
        `Dir::Etc::SourceList "${etc}/sources.list";`,
        `Dir::Etc::SourceParts "${etc}/sources.list.d";`,
        `Dir::Etc::Parts "${etc}/apt.conf.d";`,
        `Dir::Etc::Preferences "${etc}/preferences";`,
        `Dir::Etc::PreferencesParts "${etc}/preferences.d";`,
        `Dir::Etc::Trusted "${etc}/trusted.gpg";`,
        `Dir::Etc::TrustedParts "${etc}/trusted.gpg.d";`,
        `Dir::Log "${this.root}/log";`,
        'APT::Architecture "amd64";',
        'APT::Architectures { "amd64"; };',
        'Debug::NoLocking "true";',
        'Acquire::Languages "none";',
        'Acquire::Retries "0";',
        'Acquire::http::Proxy "DIRECT";',
        'APT::Sandbox::User "root";',
        ...(o.ca ? [`Acquire::https::CaInfo "${o.ca}";`] : []),
        '',
      ].join('\n'),
    );
  }

  /** Runs apt-get (asynchronously: the nodes it talks to may run in this very process). */
  run(...args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      // `apt-get download` writes where it runs: into the cache, where downloaded() looks.
      const child = spawn('apt-get', ['-q', '-y', ...args], { cwd: path.join(this.root, 'cache/archives'), env: { ...process.env, APT_CONFIG: this.config, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out });
      });
    });
  }

  /** The .deb files apt downloaded, name → bytes. */
  downloaded(): Map<string, Buffer> {
    const dir = path.join(this.root, 'cache/archives');
    return new Map(readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => [f, readFileSync(path.join(dir, f))]));
  }
}
