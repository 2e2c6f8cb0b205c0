import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Why the real dnf cannot run here, or undefined. */
export function dnfMissing(): string | undefined {
  return spawnSync('dnf', ['--version']).error ? 'dnf is not installed (scripts/install-test-tools.sh installs it)' : undefined;
}

/**
 * The real dnf as an endpoint, with a state of its own: an install root, its own
 * configuration, repository directory and cache under `root`, so nothing of this host's rpm
 * database, repositories or caches is read or touched. Signature checks on, as `sluice
 * rpm-repo` writes them (gpgcheck and repo_gpgcheck).
 */
export class DnfClient {
  readonly installRoot: string;
  readonly reposDir: string;
  private readonly conf: string;

  /** `repoFile`: the .repo text; `pluginDir`: a directory of dnf plugins to load (with their .conf beside). */
  constructor(
    readonly root: string,
    repoFile: string,
    o: { pluginDir?: string; env?: Record<string, string> } = {},
  ) {
    const d = (p: string) => {
      const full = path.join(root, p);
      mkdirSync(full, { recursive: true });
      return full;
    };
    this.installRoot = d('sys');
    this.reposDir = d('repos');
    this.env = o.env ?? {};
    writeFileSync(path.join(this.reposDir, 'sluice.repo'), repoFile);
    this.conf = path.join(root, 'dnf.conf');
    writeFileSync(
      this.conf,
      [
        '[main]',
        'gpgcheck=1',
        'repo_gpgcheck=1',
        'install_weak_deps=0',
        'keepcache=1',
        `cachedir=${d('cache')}`,
        `logdir=${d('log')}`,
        `persistdir=${d('persist')}`,
        `reposdir=${this.reposDir}`,
        ...(o.pluginDir ? ['plugins=1', `pluginpath=${o.pluginDir}`, `pluginconfpath=${o.pluginDir}`] : ['plugins=0']),
        'skip_if_unavailable=False',
        'metadata_expire=0',
        '',
      ].join('\n'),
    );
  }

  private readonly env: Record<string, string>;

  /** Runs dnf (asynchronously: the nodes it talks to may run in this very process). */
  run(...args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      const child = spawn('dnf', ['-c', this.conf, '--installroot', this.installRoot, '--setopt', `reposdir=${this.reposDir}`, '--releasever', '1', '--nodocs', '--refresh', '-y', ...args], { env: { ...process.env, ...this.env, LC_ALL: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, out });
      });
    });
  }

  /** The installed packages, `name-[epoch:]version-release.arch`, from the install root's rpm database. */
  installed(): string[] {
    const r = spawnSync('rpm', ['--root', this.installRoot, '-qa', '--qf', '%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\\n'], { encoding: 'utf8' });
    return r.stdout.split('\n').filter((l) => l && !l.startsWith('gpg-pubkey-')).sort();
  }

  /** Package files dnf downloaded to its cache (keepcache). */
  downloaded(): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(dir, e.name));
        else if (e.name.endsWith('.rpm')) out.push(e.name);
      }
    };
    walk(path.join(this.root, 'cache'));
    return out.sort();
  }
}
