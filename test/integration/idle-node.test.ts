import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { makeCluster } from '../helpers/cluster.js';
import { exited, spawnCli } from '../helpers/cli.js';
import { CLI, onTeardown, waitFor } from '../helpers/env.js';

/** How often the process's main thread has gone to sleep and been woken (Linux). */
function wakeUps(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1]);
}

describe('an idle node', () => {
  // A hundred nodes share a machine in the tree benchmark: whatever an idle node does on a
  // timer, a hundred of them do. Idle means waiting on its catalog long-poll, with status
  // pushes every 5 s (the defaults: these nodes run as `sluice serve` with no test tuning).
  it('sleeps between events: the primary and a downstream node over TLS each wake at most a few times a second', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }], '', undefined, { tls: true });
    const env = { ...c.env, SLUICE_TLS_DIR: c.secrets.tlsDir!, SLUICE_LOG_LEVEL: 'warn' };
    const nodes = ['hq', 'branch'].map((name) => {
      const child = spawnCli(['serve', '--node', name, '-t', c.file], { env });
      onTeardown(() => child.kill('SIGKILL'));
      return { name, child, url: c.topology.nodes.get(name)!.url };
    });
    const dispatcher = new Agent({ connect: { ca: readFileSync(c.caPath) } });
    onTeardown(() => dispatcher.close());
    const status = async (url: string) => request(`${url}/v1/status`, { dispatcher }).then((r) => (r.statusCode === 200 ? (r.body.json() as Promise<{ catalog: { seq: number }; children?: Record<string, unknown> }>) : (r.body.dump(), undefined))).catch(() => undefined);
    // Settled: the branch follows the catalog and its status has reached the primary.
    await waitFor('the branch in the primary\'s status', async () => Boolean((await status(nodes[0]!.url))?.children?.branch), 30_000);
    await waitFor('the branch at the catalog head', async () => (await status(nodes[1]!.url))?.catalog.seq === (await status(nodes[0]!.url))?.catalog.seq, 30_000);

    const windowMs = 3000;
    const before = nodes.map((n) => wakeUps(n.child.pid!));
    const started = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const seconds = (performance.now() - started) / 1000;
    const perSecond = nodes.map((n, i) => (wakeUps(n.child.pid!) - before[i]!) / seconds);
    process.stdout.write(`# idle wake-ups per second: ${nodes.map((n, i) => `${n.name} ${perSecond[i]!.toFixed(1)}`).join(', ')}\n`);
    // A sampling timer every 10 ms is 100 a second; a 30 s long-poll under undici's shared
    // 500 ms tick is 2. Status pushes and the TLS reload check add a few per 5 s.
    for (const [i, n] of nodes.entries()) assert.ok(perSecond[i]! <= 6, `${n.name} woke ${perSecond[i]!.toFixed(1)} times a second while idle`);
    // What the sampler was for, without one: the loop's busy time, read from libuv at the scrape.
    const metrics = await request(`${nodes[1]!.url}/metrics`, { dispatcher }).then((r) => r.body.text());
    const busy = Number(/^sluice_event_loop_busy_seconds_total (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(busy > 0, `sluice_event_loop_busy_seconds_total ${busy}`);
    assert.match(metrics, /^# TYPE sluice_event_loop_busy_seconds_total counter$/m);
    assert.match(metrics, /^nodejs_eventloop_lag_p99_seconds \S+$/m);
  });

  // Each node of a tree pays for every library it loads (the tree benchmark runs a hundred on
  // one machine, each held to 150 MiB): the OpenPGP library (about 17 MiB) and the Redis
  // client (about 20 MiB) wait until a node signs or verifies a feed, or joins a site.
  it('loads neither OpenPGP nor the Redis client when it has no vendor feed and no site', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'branch', upstream: 'hq' }]);
    const loaded = path.join(c.dir, 'loaded.txt');
    const hooks = path.join(c.dir, 'hooks.mjs');
    writeFileSync(hooks, `import { appendFileSync } from 'node:fs';\nexport async function resolve(spec, ctx, next) {\n  const r = await next(spec, ctx);\n  const m = /node_modules\\/((@[^/]+\\/)?[^/]+)\\//.exec(r.url);\n  if (m) appendFileSync(${JSON.stringify(loaded)}, m[1] + '\\n');\n  return r;\n}\n`);
    const register = path.join(c.dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const children = ['hq', 'branch'].map((name) => {
      const child = spawn(process.execPath, ['--import', register, CLI, 'serve', '--node', name, '-t', c.file], { env: { ...process.env, ...c.env, SLUICE_LOG_LEVEL: 'warn' }, stdio: 'ignore' });
      onTeardown(() => child.kill('SIGKILL'));
      return child;
    });
    const branchUrl = c.topology.nodes.get('branch')!.url;
    await waitFor('the branch following the catalog', async () => (await request(`${branchUrl}/v1/status`).then((r) => r.body.json() as Promise<{ catalog: { seq: number } }>).catch(() => undefined))?.catalog.seq !== undefined, 30_000);
    for (const child of children) {
      child.kill('SIGTERM');
      await exited(child);
    }
    const packages = new Set(readFileSync(loaded, 'utf8').split('\n').filter(Boolean));
    assert.ok(packages.has('fastify') && packages.has('level'), `the hook saw the node's libraries: ${[...packages].join(' ')}`);
    assert.ok(!packages.has('openpgp'), 'openpgp loaded by a node without feeds');
    assert.ok(!packages.has('ioredis'), 'ioredis loaded by a node without a site');
  });
});
