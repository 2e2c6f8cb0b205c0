import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePorts, onTeardown, tempDir, waitFor } from './env.js';

/** True when Debian's redis-server is installed (scripts/install-test-tools.sh installs it). */
export const haveRedis = () => !spawnSync('redis-server', ['--version']).error;

/** A real redis-server on a free loopback port, without persistence; stopped at teardown. */
export async function startRedis(port?: number): Promise<{ url: string; port: number; stop(): Promise<void>; start(): Promise<void> }> {
  const p = port ?? (await freePorts(1))[0]!;
  const dir = tempDir('sluice-redis-');
  let child: ChildProcess | undefined;
  const ping = () => spawnSync('redis-cli', ['-p', String(p), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG';
  const start = async () => {
    child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitFor('redis-server to answer PING', ping, 10_000, 50);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };
  await start();
  onTeardown(() => stop());
  return { url: `redis://127.0.0.1:${p}`, port: p, stop, start };
}
