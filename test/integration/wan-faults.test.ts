import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { onTeardown, tempDir, waitFor } from '../helpers/env.js';
import { holdsExactly, metric, release } from '../helpers/replication.js';

type Status = {
  upstream: { current: string; preferred: string; clockSkewSeconds: number | null };
  missing: { sha256: string; peer: string }[];
  warnings: string[];
  transfers: { sha256: string; state: string; lastError: { code: string } | null }[];
};

describe('critical packages never wait behind bulk', () => {
  it('with both bulk slots held by a paused window, a critical package (critical: bypass) starts at once in slots of its own', async () => {
    const c = await makeCluster(
      [{ name: 'hq' }, { name: 'branch', upstream: 'hq', extra: 'region: closed' }],
      '',
      ['  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }', '  closed: { timezone: UTC, schedule: [ { rate: paused } ], critical: bypass, sync: { every: 10m, jitter: 0s } }'],
    );
    const hq = await startNode(c.topology, 'hq', c.secrets);
    // Blobs above 64 KiB take the large lane (2 slots).
    const branch = await startNode(c.topology, 'branch', c.secrets, { smallBlobBytes: 64 * 1024 });
    const base = c.topology.nodes.get('hq')!.url;
    const bulk = await Promise.all([1, 2].map((i) => release(base, c.dir, `bulk${i}`, { size: 1024 * 1024, meta: { severity: 'low' } })));
    await waitFor('both bulk transfers to hold their slots, paused', () => (branch.status() as Status).transfers.filter((t) => t.state === 'paused').length === 2);
    const urgent = await release(base, c.dir, 'urgent-fix', { size: 1024 * 1024, meta: { severity: 'critical' } });
    await waitFor('the critical package to arrive', () => holdsExactly(branch, urgent.content), 10_000);
    assert.equal(branch.catalog.seq, hq.catalog.seq);
    for (const b of bulk) assert.ok(!branch.store.has(b.sha), 'the paused window still holds bulk back');
  });
});

describe('a blob that never appears upstream', () => {
  it('an upstream answering 404 past missingAfterMs counts as failing; status and metric name the blob; the fallback delivers it', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', proxied: true }, { name: 'branch', upstream: 'hub', extra: 'fallback: [hq]' }]);
    const proxy = c.proxies.get('hub')!;
    const hq = await startNode(c.topology, 'hq', c.secrets);
    await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets, { missingAfterMs: 500, probeMs: 60_000 });
    proxy.blobFault = 'withhold';
    const rel = await release(c.topology.nodes.get('hq')!.url, c.dir, 'withheld', { size: 200_000 });
    let seenMetric = 0;
    const seen = await waitFor('the blob to be reported missing at the hub', async () => {
      seenMetric = Math.max(seenMetric, await metric(branch, 'sluice_blobs_missing_upstream{peer="hub"}'));
      return (branch.status() as Status).missing.find((m) => m.sha256 === rel.sha);
    });
    assert.equal(seen.peer, 'hub');
    await waitFor('the fallback to deliver it', () => holdsExactly(branch, rel.content), 20_000);
    assert.equal((branch.status() as Status).upstream.current, 'hq', 'failed over');
    assert.ok(seenMetric >= 1 || (await metric(branch, 'sluice_upstream_up{peer="hub"}')) === 0);
    assert.equal(branch.catalog.seq, hq.catalog.seq);
  });

  it('a peer\'s clock offset is measured from its answers, exposed, and warned about', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'branch', upstream: 'hq' }]);
    const proxy = c.proxies.get('hq')!;
    await startNode(c.topology, 'hq', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    proxy.dateShiftMs = 120_000;
    await release(`http://127.0.0.1:${c.ports[0]}`, c.dir, 'tick');
    await waitFor('a skew of about 120 s', async () => Math.abs((await metric(branch, 'sluice_peer_clock_skew_seconds{peer="hq"}')) - 120) <= 2);
    const s = branch.status() as Status;
    assert.ok(Math.abs(s.upstream.clockSkewSeconds! - 120) <= 2);
    assert.ok(s.warnings.some((w) => /clock of hq differs .* by 1(19|20|21) s/.test(w)), s.warnings.join('\n'));
  });
});

/** A small tmpfs for a node's data directory (root only); undefined where it cannot be mounted. */
function smallDisk(bytes: number): string | undefined {
  const dir = tempDir('sluice-disk-');
  const mnt = path.join(dir, 'mnt');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  onTeardown(() => execFileSync('umount', ['-l', mnt], { stdio: 'ignore' }));
  return mnt;
}

describe('local faults are not the upstream\'s fault', () => {
  const disk = smallDisk(24 * 1024 * 1024);
  // Mounting needs root, which CI has; elsewhere the test says why it cannot run.
  const skip = !disk && !process.env.CI ? 'cannot mount a tmpfs here (not root)' : false;

  it('a full disk mid-transfer is STORE_IO and a blob that cannot fit is STORE_FULL: the upstream stays healthy, no failover', { skip }, async () => {
    assert.ok(disk, 'CI runs as root and must be able to mount a tmpfs');
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hq', extra: `fallback: [hub], data: "${disk}/branch"` }]);
    const proxy = c.proxies.get('hq')!;
    await startNode(c.topology, 'hq', c.secrets);
    await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets, { diskReserveBytes: 0, peerFailures: 2 });
    const base = `http://127.0.0.1:${c.ports[0]}`;

    // Too large for the disk at all: never started.
    const huge = await release(base, c.dir, 'huge', { size: 30 * 1024 * 1024 });
    await waitFor('STORE_FULL on the huge blob', () => (branch.status() as Status).transfers.find((t) => t.sha256 === huge.sha)?.lastError?.code === 'STORE_FULL');
    assert.equal(proxy.blobRequests.filter((r) => r.sha === huge.sha).length, 0, 'nothing was asked of the upstream');
    await waitFor('several refusals of the huge blob', () => ((branch.status() as Status).transfers.find((t) => t.sha256 === huge.sha) as { attempts?: number } | undefined)?.attempts! >= 3);
    assert.equal(await metric(branch, 'sluice_upstream_up{peer="hq"}'), 1);

    // Fits, but the disk fills up while it arrives.
    proxy.rateBytesPerSec = 4 * 1024 * 1024;
    const filler = path.join(disk!, 'filler');
    const rel = await release(base, c.dir, 'fits', { size: 8 * 1024 * 1024 });
    await waitFor('the transfer to start', () => proxy.blobRequests.some((r) => r.sha === rel.sha));
    try {
      writeFileSync(filler, Buffer.alloc(20 * 1024 * 1024));
    } catch {
      // ENOSPC: the filler took what was left, which is the point
    }
    await waitFor('a local write failure', () => {
      const t = (branch.status() as Status).transfers.find((x) => x.sha256 === rel.sha);
      return t?.lastError && ['STORE_IO', 'STORE_FULL'].includes(t.lastError.code);
    }, 20_000);
    assert.equal(await metric(branch, 'sluice_upstream_up{peer="hq"}'), 1, 'the upstream is not blamed');
    assert.equal((branch.status() as Status).upstream.current, 'hq', 'no failover for a local fault');
    rmSync(filler, { force: true });
    proxy.rateBytesPerSec = Infinity;
    await waitFor('the blob to arrive once space is back', () => holdsExactly(branch, rel.content), 20_000);
    assert.equal((branch.status() as Status).upstream.current, 'hq');
  });
});
