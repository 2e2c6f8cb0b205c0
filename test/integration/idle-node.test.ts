import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { makeCluster } from '../helpers/cluster.js';
import { spawnCli } from '../helpers/cli.js';
import { onTeardown, waitFor } from '../helpers/env.js';

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
});
