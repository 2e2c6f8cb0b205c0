import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { exited, runCli, spawnCli } from '../helpers/cli.js';
import { REPO_ROOT, freePorts, onTeardown, tempDir, waitFor } from '../helpers/env.js';

/** A copy of the project's start script in a directory of its own, with the shipped topology's shape on free ports. */
async function demoDir(): Promise<{ dir: string; ports: number[] }> {
  const dir = tempDir();
  const ports = await freePorts(2);
  copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(dir, 'package.json'));
  symlinkSync(path.join(REPO_ROOT, 'dist'), path.join(dir, 'dist'));
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(
    path.join(dir, 'topology.yaml'),
    ['version: 1', 'primary: hq', 'trust: { catalogKey: keys/catalog.pub, ca: keys/ca.pem }', 'regions:', '  main: { timezone: UTC }', 'nodes:', `  hq: { url: "https://127.0.0.1:${ports[0]}", region: main }`, `  paris: { url: "https://127.0.0.1:${ports[1]}", region: main, upstream: hq, ring: pilot }`, ''].join('\n'),
  );
  return { dir, ports };
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

async function ready(dir: string, port: number): Promise<void> {
  let dispatcher: Agent | undefined;
  await waitFor(`the node on ${port} ready`, async () => {
    try {
      // The CA appears on the first run of the demo, before the nodes listen.
      dispatcher ??= new Agent({ connect: { ca: readFileSync(path.join(dir, 'keys', 'ca.pem'), 'utf8') } });
      const res = await request(`https://127.0.0.1:${port}/readyz`, { dispatcher });
      await res.body.dump();
      return res.statusCode === 200;
    } catch {
      return false;
    }
  }, 30_000, 100);
  await dispatcher?.close();
}

function npmStart(dir: string): ChildProcess {
  const child = spawn('npm', ['start'], { cwd: dir, env: { ...process.env, SLUICE_ADMIN_TOKEN: '', SLUICE_SIGNING_KEY: '', SLUICE_SECRETS_FILE: '', SLUICE_TLS_CERT: '', SLUICE_TLS_KEY: '', SLUICE_TLS_DIR: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  child.stderr!.resume();
  onTeardown(() => child.kill('SIGKILL'));
  return child;
}

describe('stopping and starting', { concurrency: false }, () => {
  it('npm start stops, drained, on SIGTERM and on SIGINT sent to npm alone (a supervisor, a container runtime), and its ports are free again at once', async () => {
    const { dir, ports } = await demoDir();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const npm = npmStart(dir);
      await ready(dir, ports[0]!);
      await ready(dir, ports[1]!);
      npm.kill(signal);
      const end = await Promise.race([exited(npm), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref())]);
      assert.notEqual(end, 'timeout', `npm start ended within 10 s of ${signal}`);
      await waitFor(`the ports free after ${signal}`, async () => !(await listening(ports[0]!)) && !(await listening(ports[1]!)), 5000);
    }
  });

  it('one node of the demo runs alone with the demo secrets file: sluice serve --node hq --secrets data/demo.env', async () => {
    const { dir, ports } = await demoDir();
    // The first run creates keys, the CA, the node certificates and data/demo.env.
    const npm = npmStart(dir);
    await ready(dir, ports[0]!);
    npm.kill('SIGTERM');
    await exited(npm);
    assert.match(readFileSync(path.join(dir, 'data', 'demo.env'), 'utf8'), /^SLUICE_TLS_DIR=.*keys\/nodes$/m);
    const hq = spawnCli(['serve', '--node', 'hq', '--secrets', 'data/demo.env'], { cwd: dir, env: { SLUICE_TLS_CERT: '', SLUICE_TLS_KEY: '', SLUICE_TLS_DIR: '', SLUICE_SECRETS_FILE: '' } });
    onTeardown(() => hq.kill('SIGKILL'));
    await ready(dir, ports[0]!);
    assert.equal(await listening(ports[1]!), false, 'only hq runs');
    hq.kill('SIGTERM');
    assert.equal((await exited(hq)).code, 0, hq.output());
  });
});

describe('runbooks that match the tool', () => {
  it('keygen advises by the role of the key it makes: an offline root key is kept off every node, the online key goes to the primary', async () => {
    const dir = tempDir();
    const root = await runCli(['keygen', '--out', dir, '--name', 'root-1']);
    assert.equal(root.code, 0, root.stderr);
    assert.match(root.stdout, /OFFLINE root key.*keep it on no node, the primary included/);
    assert.doesNotMatch(root.stdout, /primary only|trust\.catalogKey on every node/);
    const online = await runCli(['keygen', '--out', dir, '--name', 'catalog-2']);
    assert.match(online.stdout, /ONLINE catalog key: on the primary only/);
    assert.match(online.stdout, /sluice root new --catalog-key/);
    const first = await runCli(['keygen', '--out', dir]);
    assert.match(first.stdout, /trust\.catalogKey on every node; it is root version 1/);
    const wrong = await runCli(['keygen', '--out', dir, '--name', 'x', '--role', 'admin']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^error USAGE: --role admin/);
  });

  it('usage errors carry their code like every other error', async () => {
    const missing = await runCli(['publish', 'f']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error USAGE: required option '--name <name>' not specified/);
    const unknown = await runCli(['nosuchcommand']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^error USAGE: unknown command 'nosuchcommand'/);
  });
});
