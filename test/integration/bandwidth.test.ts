import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacedBudget } from '../../src/schedule/paced-budget.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { converged, getJson, holdsExactly, metric, release } from '../helpers/replication.js';
import { runCli } from '../helpers/cli.js';

const MB = 1e6;

/** Samples a byte counter every 100 ms while `until` is false; returns the samples. */
async function sampleBytes(read: () => Promise<number>, until: () => boolean, timeoutMs = 30_000): Promise<{ t: number; bytes: number }[]> {
  const samples: { t: number; bytes: number }[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!until() && Date.now() < deadline) {
    samples.push({ t: performance.now(), bytes: await read() });
    await new Promise((r) => setTimeout(r, 100));
  }
  samples.push({ t: performance.now(), bytes: await read() });
  return samples;
}

/** Average rate from the first to the last moving sample, and the fullest 1-second window. */
function rates(samples: { t: number; bytes: number }[]) {
  const first = samples.findIndex((s) => s.bytes > samples[0]!.bytes);
  const moving = samples.slice(Math.max(0, first - 1));
  const last = moving[moving.length - 1]!;
  const avg = ((last.bytes - moving[0]!.bytes) * 1000) / (last.t - moving[0]!.t);
  let worst = 0;
  for (const a of moving) {
    const b = moving.find((s) => s.t >= a.t + 1000);
    if (b) worst = Math.max(worst, ((b.bytes - a.bytes) * 1000) / (b.t - a.t));
  }
  return { avg, worst };
}

describe('one byte budget per node, shared by all its transfers', () => {
  it('four concurrent transfers together stay within the 4 MB/s window, without bursts', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'region: slow' }],
      '',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  slow: { timezone: Europe/Paris, schedule: [ { rate: 4MB/s } ], sync: { every: 10m, jitter: 0s } }'],
    );
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const files = await Promise.all([1, 2, 3, 4].map((i) => release(base, c.dir, `blob${i}`, { size: 3 * 1024 * 1024 })));
    const inBytes = () => metric(branch, 'sluice_transfer_bytes_total{direction="in",peer="hq"}').then((v) => (Number.isNaN(v) ? 0 : v));
    await waitFor('transfers to start', async () => (await inBytes()) > 0);
    // The first bytes can land before the second transfer has started: wait for it (3 s of bytes remain).
    await waitFor('several transfers running at once', () => (branch.status() as { transfers: { state: string }[] }).transfers.filter((t) => t.state === 'active').length >= 2, 2000);
    const samples = await sampleBytes(inBytes, () => files.every((f) => branch.store.has(f.sha)));
    await converged(branch, hq.catalog.seq);
    for (const f of files) assert.ok(holdsExactly(branch, f.content));
    const { avg, worst } = rates(samples);
    // Unthrottled, 12 MiB cross loopback in a fraction of a second: these bounds cannot pass without the limiter.
    assert.ok(avg <= 4 * MB * 1.1 && avg >= 4 * MB * 0.7, `average ${(avg / MB).toFixed(2)} MB/s for a 4 MB/s window`);
    assert.ok(worst <= 4 * MB * 1.2, `fullest second ${(worst / MB).toFixed(2)} MB/s`);
    assert.equal(await metric(branch, 'sluice_rate_limit_bytes_per_second'), 4 * MB);
    assert.equal(await metric(branch, 'sluice_schedule_window'), 0);
    const rate = (branch.status() as { rate: { limitBytesPerSec: number; window: { label: string } } }).rate;
    assert.equal(rate.limitBytesPerSec, 4 * MB);
    assert.match(rate.window.label, /4MB\/s/);
  });

  it('a paused schedule moves nothing, while critical packages take the bypass lane', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'region: closed' }],
      '',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  closed: { timezone: Asia/Tokyo, schedule: [ { rate: paused } ], critical: bypass, sync: { every: 10m, jitter: 0s } }'],
    );
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const routine = await release(base, c.dir, 'routine', { size: 500_000, meta: { severity: 'low' } });
    const urgent = await release(base, c.dir, 'urgent', { size: 500_000, meta: { severity: 'critical' } });
    await waitFor('the critical package to arrive', () => holdsExactly(branch, urgent.content));
    assert.equal(branch.catalog.seq, hq.catalog.seq);
    assert.ok(!branch.store.has(routine.sha), 'the paused window holds the routine package back');
    const s = branch.status() as { pending: { blobs: number }; rate: { limitBytesPerSec: number } };
    assert.equal(s.pending.blobs, 1);
    assert.equal(s.rate.limitBytesPerSec, 0);
  });
});

describe('a window that closes mid-transfer', () => {
  it('gives the connection back (the upstream closes its file), keeps the slot and the bytes, and resumes with a range when it opens', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'region: slow' }],
      '',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  slow: { timezone: UTC, schedule: [ { rate: 20MB/s } ], sync: { every: 10m, jitter: 0s } }'],
    );
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    // Large enough that the upstream is still reading its file (not all in socket buffers).
    const size = 64 * 1024 * 1024;
    const rel = await release(c.topology.nodes.get('hq')!.url, c.dir, 'paused-mid-way', { size });
    const received = () => (branch.status() as { transfers: { offset: number }[] }).transfers[0]?.offset ?? 0;
    await waitFor('a quarter of the blob to arrive', () => received() >= size / 4 && hq.store.reads.readsOpen === 1);
    // The schedule's budget is what a window sets; closing it is what a window turning does.
    const schedule = (branch as unknown as { downstream: { schedule: { budget: PacedBudget; close(): void } } }).downstream.schedule;
    // Its minute tick would put the window's rate back: stop it, the test turns the window.
    schedule.close();
    const budget = schedule.budget;
    budget.setRate(0);
    const paused = await waitFor('the transfer to pause', () => (branch.status() as { transfers: { state: string; offset: number }[] }).transfers.find((t) => t.state === 'paused'));
    assert.ok(paused.offset >= size / 4, `the bytes received are kept (${paused.offset})`);
    await waitFor('the upstream to close the blob it was sending', () => hq.store.reads.readsOpen === 0, 10_000);
    assert.ok(!branch.store.has(rel.sha));
    budget.setRate(Infinity);
    await waitFor('the blob to complete once the window opens', () => holdsExactly(branch, rel.content), 20_000);
    // Resumed from the kept bytes with a range, not restarted.
    assert.ok((await metric(branch, 'sluice_transfer_resumes_total')) >= 1);
  });
});

describe('upstream egress caps', () => {
  it('perChild caps what each downstream node receives', async () => {
    const c = await makeCluster([
      { name: 'hq', extra: 'egress: { perChild: 2MB/s }' },
      { name: 'a', upstream: 'hq' },
      { name: 'b', upstream: 'hq' },
    ]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const a = await startNode(c.topology, 'a', c.secrets);
    const b = await startNode(c.topology, 'b', c.secrets);
    const base = c.topology.nodes.get('hq')!.url;
    const f = await release(base, c.dir, 'shared', { size: 4 * 1024 * 1024 });
    // Measured where the cap applies: what the upstream sends to each child.
    const inA = () => metric(hq, 'sluice_transfer_bytes_total{direction="out",peer="a"}');
    const inB = () => metric(hq, 'sluice_transfer_bytes_total{direction="out",peer="b"}');
    const [sa, sb] = await Promise.all([sampleBytes(inA, () => a.store.has(f.sha)), sampleBytes(inB, () => b.store.has(f.sha))]);
    for (const s of [sa, sb]) {
      const { avg } = rates(s);
      assert.ok(avg <= 2 * MB * 1.15 && avg >= 2 * MB * 0.6, `a child received ${(avg / MB).toFixed(2)} MB/s under a 2 MB/s cap`);
    }
    assert.ok(holdsExactly(a, f.content) && holdsExactly(b, f.content));
  });
});

describe('rate changes while transfers run', () => {
  it('running consumers follow a new rate at once, and a pause holds them until resumed', async () => {
    const budget = new PacedBudget(1 * MB);
    let total = 0;
    let stop = false;
    const consumers = [1, 2, 3].map(async () => {
      while (!stop) {
        await budget.take(16 * 1024);
        total += 16 * 1024;
      }
    });
    const measure = async (ms: number) => {
      const start = total;
      const t = performance.now();
      await new Promise((r) => setTimeout(r, ms));
      return ((total - start) * 1000) / (performance.now() - t);
    };
    const slow = await measure(1000);
    budget.setRate(4 * MB);
    const fast = await measure(1000);
    budget.setRate(0);
    await new Promise((r) => setTimeout(r, 50));
    const paused = await measure(500);
    budget.setRate(2 * MB);
    const resumed = await measure(1000);
    stop = true;
    budget.setRate(Infinity);
    await Promise.all(consumers);
    assert.ok(slow > 0.85 * MB && slow < 1.2 * MB, `1 MB/s gave ${slow}`);
    assert.ok(fast > 3.4 * MB && fast < 4.6 * MB, `4 MB/s gave ${fast}`);
    assert.equal(paused, 0);
    assert.ok(resumed > 1.6 * MB && resumed < 2.4 * MB, `2 MB/s gave ${resumed}`);
  });
});

describe('sluice plan', () => {
  it('shows when each node will hold everything, and what will miss its deadline (exit 1)', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'region: closed' }],
      'policy: { deadlines: { low: 1s } }',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  closed: { timezone: UTC, schedule: [ { rate: paused } ], sync: { every: 10m, jitter: 0s } }'],
    );
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    await release(c.topology.nodes.get('hq')!.url, c.dir, 'stuck', { meta: { severity: 'low' } });
    await waitFor('the branch to know of the package and to report it', async () => {
      const s = await getJson(`${c.topology.nodes.get('hq')!.url}/v1/status`);
      return branch.catalog.seq === hq.catalog.seq && s.children?.branch?.pending?.blobs === 1;
    });
    const r = await runCli(['plan', '--json', '-t', c.file]);
    assert.equal(r.code, 1, `a package that will be late fails the plan: ${r.stdout}`);
    const plan = JSON.parse(r.stdout) as { nodes: { node: string; doneAt: string | null; pendingBlobs: number; late: { id: string; eta: string | null }[]; rate: string }[] };
    const row = plan.nodes.find((n) => n.node === 'branch')!;
    assert.equal(row.pendingBlobs, 1);
    assert.equal(row.doneAt, null);
    assert.deepEqual(row.late.map((l) => [l.id, l.eta]), [['stuck@1', null]]);
    assert.match(row.rate, /^paused/);
    assert.equal(plan.nodes.find((n) => n.node === 'hq')!.rate, 'source');
    // Each row says how old the status it comes from is, and what catalog the node had then.
    const asOf = (row as unknown as { asOf: string; catalogSeq: number });
    assert.ok(Date.now() - Date.parse(asOf.asOf) < 60_000, `asOf ${asOf.asOf}`);
    assert.equal(asOf.catalogSeq, hq.catalog.seq);
    await waitFor('the package to count as overdue once its 1 s deadline passed', async () => (await metric(branch, 'sluice_overdue_packages{severity="low"}')) === 1);
    const text = await runCli(['plan', '-t', c.file]);
    assert.match(text.stdout, /branch\s+1 blobs 64\.0 KiB\s+paused.*not within 400 days\s+1\s+\d+s ago\n/);
    assert.match(text.stdout, /will miss their deadline:\n {2}branch: stuck@1 \(low\)/);
  });
});

describe('sync jitter', () => {
  it('nodes started together spread their first catalog polls over the jitter window', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const c = await makeCluster(
      [{ name: 'hq', proxied: true }, ...names.map((n) => ({ name: n, upstream: 'hq', extra: 'region: spread' }))],
      '',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  spread: { timezone: UTC, sync: { every: 10m, jitter: 3s } }'],
    );
    const proxy = c.proxies.get('hq')!;
    await startNode(c.topology, 'hq', c.secrets);
    const started = performance.now();
    await Promise.all(names.map((n) => startNode(c.topology, n, c.secrets)));
    await waitFor('every node\'s first poll', () => names.every((n) => proxy.catalogRequests.some((r) => r.node === n)), 10_000);
    const firsts = names.map((n) => proxy.catalogRequests.find((r) => r.node === n)!.at - started);
    const spread = Math.max(...firsts) - Math.min(...firsts);
    assert.ok(spread > 100, `first polls within ${spread.toFixed(0)} ms of each other`);
    assert.ok(Math.max(...firsts) < 3000 + 2000, 'all within the jitter window (plus start-up)');
  });
});
