import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { SluiceNode } from '../../src/daemon.js';
import { renderStatus } from '../../src/cli/render-status.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/env.js';
import { adminPost } from '../helpers/publish.js';
import { converged, getJson, holdsExactly, release } from '../helpers/replication.js';

let hq: SluiceNode;
let hub: SluiceNode;
let branch: SluiceNode;
let base: string;
let dir: string;
let file: string;

before(async () => {
  const c = await makeCluster(
    [
      { name: 'hq' },
      { name: 'hub', upstream: 'hq', extra: 'ring: pilot' },
      { name: 'branch', upstream: 'hub', extra: 'ring: broad, accept: { languages: [fr] }' },
    ],
    'rings: [pilot, broad]\npolicy: { grace: 0s }',
  );
  dir = c.dir;
  file = c.file;
  hq = await startNode(c.topology, 'hq', c.secrets);
  hub = await startNode(c.topology, 'hub', c.secrets);
  branch = await startNode(c.topology, 'branch', c.secrets);
  base = c.topology.nodes.get('hq')!.url;
});

describe('replication three tiers down: primary → hub → branch', () => {
  it('approved files arrive byte-exact where they apply; declined, unapproved and ring-excluded ones never do', async () => {
    const docsFr = await release(base, dir, 'docs', { meta: { language: 'fr' } });
    const docsDe = await release(base, dir, 'docs-de', { meta: { language: 'de' } });
    const unlabelled = await release(base, dir, 'tool', { size: 3 * 1024 * 1024 });
    const pilotOnly = await release(base, dir, 'pilot-only', { ring: 'pilot' });
    const broadOnly = await release(base, dir, 'broad-only', { ring: 'broad' });
    const declined = await release(base, dir, 'declined', { ring: null });
    await adminPost(base, '/v1/packages/declined@1/decline', {});
    const unapproved = await release(base, dir, 'unapproved', { ring: null });
    const empty = await release(base, dir, 'empty', { size: 0 });

    await converged(hub, hq.catalog.seq);
    await converged(branch, hq.catalog.seq);

    for (const f of [docsFr, unlabelled, broadOnly, empty]) assert.ok(holdsExactly(branch, f.content), `branch holds ${f.id}`);
    for (const f of [docsDe, pilotOnly, declined, unapproved]) assert.ok(!branch.store.has(f.sha), `branch must not hold ${f.id}`);
    // The hub holds its own packages and relays what its subtree needs (broad-only).
    for (const f of [docsFr, docsDe, unlabelled, pilotOnly, broadOnly, empty]) assert.ok(holdsExactly(hub, f.content), `hub holds ${f.id}`);
    for (const f of [declined, unapproved]) assert.ok(!hub.store.has(f.sha), `hub must not hold ${f.id}`);
    assert.equal(branch.store.stats().blobs, 4);
    assert.equal(branch.catalog.head!.hash, hq.catalog.head!.hash, 'the relayed head is the primary\'s, unchanged');
  });

  it('a package declined after it arrived is removed everywhere (grace 0s); a superseded one once its successor is approved', async () => {
    const revoked = await release(base, dir, 'revoked');
    const v1 = await release(base, dir, 'app', { version: '1' });
    await converged(branch, hq.catalog.seq);
    assert.ok(holdsExactly(branch, revoked.content) && holdsExactly(branch, v1.content));
    await adminPost(base, '/v1/packages/revoked@1/decline', {});
    const v2 = await release(base, dir, 'app', { version: '2', meta: { supersedes: 'app@1' } });
    await waitFor('revoked and superseded blobs to leave hub and branch', () =>
      [hub, branch].every((n) => !n.store.has(revoked.sha) && !n.store.has(v1.sha) && n.store.has(v2.sha)),
    );
    assert.ok(holdsExactly(branch, v2.content));
  });

  it('the primary\'s status shows the whole tree, each node up to date', async () => {
    const seq = hq.catalog.seq;
    const status = await waitFor('branch status to reach the primary', async () => {
      const s = await getJson(`${base}/v1/status`);
      const b = s.children?.hub?.children?.branch;
      return b && b.catalog.seq === seq && b.pending.blobs === 0 && s.children.hub.catalog.seq === seq ? s : undefined;
    });
    assert.equal(status.node, 'hq');
    assert.equal(status.children.hub.upstream.current, 'hq');
    assert.equal(status.children.hub.children.branch.upstream.current, 'hub');
    assert.equal(status.children.hub.children.branch.stale, false);
    const text = renderStatus(status);
    assert.match(text, /^hq \(primary\) {2}catalog \d+/);
    assert.match(text, /├?└── hub .*rings pilot {2}nothing pending for its rings {2}via hq/);
    assert.match(text, / {4}└── branch .*rings broad {2}nothing pending for its rings {2}via hub/);
    // An empty blob writes no byte, so no relay is announced: its waiters are woken by its commit
    // rather than sitting out the relay wait past their stall timeout.
    assert.doesNotMatch(text, /TRANSFER_STALLED/);
    const cli = await runCli(['status', '-t', file]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /branch .*nothing pending for its rings/);
    const json = JSON.parse((await runCli(['status', '--json', '--node', 'branch', '-t', file])).stdout);
    assert.equal(json.node, 'branch');
    assert.deepEqual(Object.keys(json).sort(), ['at', 'catalog', 'children', 'forecast', 'lastError', 'lost', 'missing', 'node', 'pending', 'primary', 'rate', 'ready', 'region', 'rings', 'store', 'transfers', 'upstream', 'version', 'warnings'].sort());
  });

  it('sluice verify quarantines a corrupted blob and the node fetches it again', async () => {
    const victim = await release(base, dir, 'victim', { size: 200_000 });
    await converged(branch, hq.catalog.seq);
    const corrupt = Buffer.from(victim.content);
    corrupt[1000] = corrupt[1000]! ^ 1;
    writeFileSync(branch.store.pathOf(victim.sha), corrupt);
    const r = await runCli(['verify', '--node', 'branch', '--json', '-t', file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.quarantined, [victim.sha]);
    assert.ok(report.checked >= 5);
    assert.equal(r.code, 1, 'a failed verification exits 1');
    await waitFor('the quarantined blob to be fetched again', () => holdsExactly(branch, victim.content));
    const again = await runCli(['verify', '--node', 'branch', '-t', file], { env: { SLUICE_TOKEN: ADMIN_TOKEN } });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /0 failed/);
  });
});

describe('cut-through relaying', () => {
  it('a hub relays a blob to its branch while still receiving it; both end byte-exact', async () => {
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hub' }]);
    const proxy = c.proxies.get('hq')!;
    proxy.rateBytesPerSec = 8 * 1024 * 1024; // the hub's own download takes about a second
    const hqNode = await startNode(c.topology, 'hq', c.secrets);
    const hubNode = await startNode(c.topology, 'hub', c.secrets);
    const branchNode = await startNode(c.topology, 'branch', c.secrets);
    const rel = await release(hqNode.address.url, c.dir, 'relayed', { size: 8 * 1024 * 1024 });
    const partial = path.join(branchNode.spec.dataDir, 'partial', `${rel.sha}.part`);
    await waitFor('the branch to receive bytes before the hub holds the whole blob', () => !hubNode.store.has(rel.sha) && existsSync(partial) && statSync(partial).size > 0);
    // The hub commits its copy after the relay verified, so the branch may finish first: both are awaited.
    await converged(branchNode, hqNode.catalog.seq);
    await converged(hubNode, hqNode.catalog.seq);
    assert.ok(holdsExactly(hubNode, rel.content) && holdsExactly(branchNode, rel.content));
  });
});
