import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { onTeardown } from './env.js';

/**
 * An emulated WAN made of network namespaces this test creates: `up` (the upstream side),
 * `br` (the branch side) and a router between them whose link towards the branch is shaped
 * with tbf (this kernel has no netem): `rate` and a queue of `queueMs`. Addresses live only
 * inside these namespaces; everything is deleted at teardown.
 */
export interface Wan {
  readonly up: string;
  readonly br: string;
  readonly upAddr: string;
  readonly brAddr: string;
  /** Runs a command inside a namespace, as a child process. */
  spawnIn(ns: string, cmd: string, args: string[], env?: Record<string, string>): ChildProcess;
  runIn(ns: string, cmd: string, args: string[], env?: Record<string, string>): { code: number | null; stdout: string; stderr: string };
}

const sh = (args: string[]) => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
};

/** Why namespaces cannot be made here (not root, no `ip`), or undefined when they can. */
export function wanUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `sl-probe-${randomBytes(3).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `cannot create a network namespace (${r.error?.message ?? r.stderr.trim()})`;
  spawnSync('ip', ['netns', 'del', probe]);
  return spawnSync('tc', ['-V']).error ? 'tc (iproute2) is missing' : undefined;
}

export function makeWan(o: { rateMbit: number; queueMs: number }): Wan {
  const id = randomBytes(3).toString('hex');
  const up = `sl-up-${id}`;
  const rt = `sl-rt-${id}`;
  const br = `sl-br-${id}`;
  // A /24 of the documentation-free 10.x space, used only inside these namespaces.
  const net = 10 + (parseInt(id, 16) % 200);
  for (const ns of [up, rt, br]) sh(['netns', 'add', ns]);
  onTeardown(() => {
    for (const ns of [up, rt, br]) spawnSync('ip', ['netns', 'del', ns]);
  });
  const inNs = (ns: string, ...args: string[]) => sh(['-n', ns, ...args]);
  sh(['link', 'add', `u${id}`, 'netns', up, 'type', 'veth', 'peer', 'name', `ru${id}`, 'netns', rt]);
  sh(['link', 'add', `b${id}`, 'netns', br, 'type', 'veth', 'peer', 'name', `rb${id}`, 'netns', rt]);
  const upAddr = `10.${net}.1.2`;
  const brAddr = `10.${net}.2.2`;
  inNs(up, 'addr', 'add', `${upAddr}/24`, 'dev', `u${id}`);
  inNs(rt, 'addr', 'add', `10.${net}.1.1/24`, 'dev', `ru${id}`);
  inNs(rt, 'addr', 'add', `10.${net}.2.1/24`, 'dev', `rb${id}`);
  inNs(br, 'addr', 'add', `${brAddr}/24`, 'dev', `b${id}`);
  for (const [ns, dev] of [[up, `u${id}`], [rt, `ru${id}`], [rt, `rb${id}`], [br, `b${id}`], [up, 'lo'], [rt, 'lo'], [br, 'lo']] as const) inNs(ns, 'link', 'set', dev, 'up');
  inNs(up, 'route', 'add', 'default', 'via', `10.${net}.1.1`);
  inNs(br, 'route', 'add', 'default', 'via', `10.${net}.2.1`);
  const sysctl = spawnSync('ip', ['netns', 'exec', rt, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], { encoding: 'utf8' });
  if (sysctl.status !== 0) throw new Error(`router forwarding: ${sysctl.stderr}`);
  // The link towards the branch: a bottleneck with a real queue.
  const tc = spawnSync('ip', ['netns', 'exec', rt, 'tc', 'qdisc', 'add', 'dev', `rb${id}`, 'root', 'tbf', 'rate', `${o.rateMbit}mbit`, 'burst', '32kb', 'latency', `${o.queueMs}ms`], { encoding: 'utf8' });
  if (tc.status !== 0) throw new Error(`tc: ${tc.stderr}`);
  const children: ChildProcess[] = [];
  onTeardown(() => children.forEach((c) => c.kill('SIGKILL')));
  return {
    up,
    br,
    upAddr,
    brAddr,
    spawnIn(ns, cmd, args, env = {}) {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    runIn(ns, cmd, args, env = {}) {
      const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}
