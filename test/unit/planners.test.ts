import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { CatalogLog } from '../../src/catalog/catalog-log.js';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type RecordBody } from '../../src/catalog/records.js';
import { Downloader } from '../../src/download/downloader.js';
import { UrlSource } from '../../src/download/url-source.js';
import type { Source, Want } from '../../src/download/want.js';
import { VendorPlanner } from '../../src/feeds/vendor-planner.js';
import { createLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { GarbageCollector } from '../../src/replicate/garbage-collector.js';
import { ReplicationPlanner } from '../../src/replicate/replication-planner.js';
import { UNLIMITED_BUDGET } from '../../src/schedule/rate-budget.js';
import { parseTopology } from '../../src/topology/load.js';
import { tempDir } from '../helpers/env.js';
import { FakeSource } from '../helpers/fake-source.js';
import { MemoryBlobStore } from '../helpers/memory-store.js';

const topology = parseTopology(
  `
version: 1
primary: hq
trust: { catalogKey: k.pub }
regions: { r: { timezone: UTC } }
feeds:
  vendor: { type: apt, url: "http://vendor.invalid/debian", suites: [stable], components: [main], architectures: [amd64], keyring: k.gpg }
nodes:
  hq: { url: "http://127.0.0.1:1", region: r }
  branch: { url: "http://127.0.0.1:2", region: r, upstream: hq, ring: pilot }
`,
  path.join(tempDir(), 'topology.yaml'),
);

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
const shaOf = (c: string) => c.repeat(64);

/** A catalog holding `bodies`, as the planners read it (its state; no signatures to check here). */
function catalogOf(bodies: RecordBody[]): CatalogLog {
  const state = new CatalogState();
  let prev = GENESIS_HASH;
  bodies.forEach((b, i) => {
    const r = sealRecord(b, i + 1, prev);
    prev = r.hash;
    state.apply(r);
  });
  const waitForRecords = (_after: number, _ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
  return { state, seq: bodies.length, waitForRecords } as unknown as CatalogLog;
}

/** A downloader as a planner sees it: what it was last told is wanted. */
function recordingDownloader() {
  const told: ReadonlyMap<string, Want>[] = [];
  return { told, downloader: { want: (w: ReadonlyMap<string, Want>) => (told.push(w), 0), onStored: () => () => undefined, transfers: new Map() } as unknown as Downloader };
}

const inOrder = (wants: ReadonlyMap<string, Want>) => [...wants.values()].sort((a, b) => b.priority - a.priority).map((w) => w.sha256);

type Severity = 'low' | 'moderate' | 'important' | 'critical';
const publish = (id: string, severity: Severity, c: string, extra: Record<string, unknown> = {}): RecordBody =>
  ({ type: 'publish', id, severity, files: [{ name: id, size: 40_000, sha256: c.length === 64 ? c : shaOf(c) }], by: 'x', at: at(0), ...extra }) as RecordBody;
const approve = (id: string, ring: string, minute: number): RecordBody => ({ type: 'approve', id, ring, by: 'x', at: at(minute) }) as RecordBody;

describe('the replication planner', () => {
  it('wants what the node must hold, most urgent first (severity, then approval); a declined package is withdrawn', () => {
    const bodies = [publish('low@1', 'low', 'a'), publish('late@1', 'important', 'b'), publish('early@1', 'important', 'c'), publish('urgent@1', 'critical', 'd'), publish('other@1', 'critical', 'e'), approve('low@1', 'pilot', 1), approve('late@1', 'all', 5), approve('early@1', 'pilot', 3), approve('urgent@1', 'pilot', 9), approve('other@1', 'broad', 1)];
    const store = new MemoryBlobStore();
    const { told, downloader } = recordingDownloader();
    const source = new FakeSource() as Source;
    const parts = { topology, spec: topology.nodes.get('branch')!, store, metrics: createMetrics('t', '0', { upstreams: [], children: [] }), downloader, source, gc: new GarbageCollector(store, 60_000, createLogger({ level: 'silent' })), gcEveryMs: 60_000 };
    const planner = new ReplicationPlanner({ ...parts, catalog: catalogOf(bodies) });
    planner.refresh();
    assert.deepEqual(inOrder(told[0]!), [shaOf('d'), shaOf('c'), shaOf('b'), shaOf('a')], 'critical, then important by approval, then low; another ring\'s package not at all');
    assert.ok([...told[0]!.values()].every((w) => w.source === source && w.size === 40_000));
    const declined = new ReplicationPlanner({ ...parts, catalog: catalogOf([...bodies, { type: 'decline', id: 'late@1', by: 'x', at: at(10) } as RecordBody]) });
    declined.refresh();
    assert.equal(told[1]!.has(shaOf('b')), false, 'declined: no longer wanted, so the downloader withdraws it');
  });

  it('with a real downloader and one slot, the blobs are fetched in that order', async () => {
    const contents = ['low', 'late', 'early'].map((n) => Buffer.alloc(40_000, n));
    const [a, b, c] = contents.map((x) => createHash('sha256').update(x).digest('hex')) as [string, string, string];
    const bodies = [publish('low@1', 'low', a), publish('late@1', 'important', b), publish('early@1', 'important', c), approve('low@1', 'pilot', 1), approve('late@1', 'all', 5), approve('early@1', 'pilot', 3)];
    const source = new FakeSource();
    source.hold = true;
    contents.forEach((x, i) => source.blobs.set([a, b, c][i]!, x));
    const store = new MemoryBlobStore();
    const metrics = createMetrics('t', '0', { upstreams: [], children: [] });
    const downloader = new Downloader({
      store,
      metrics,
      log: createLogger({ level: 'silent' }),
      tuning: { backoffFloorMs: 500, backoffCapMs: 60_000, stallMs: 30_000, checkpointBytes: 1 << 26, checkpointMs: 5000, smallConcurrency: 1, largeConcurrency: 1, packedConcurrency: 64, criticalConcurrency: 1, missingAfterMs: 600_000, diskReserveBytes: 0, smallBlobBytes: 1024, partialTtlMs: 1e9, gcEveryMs: 60_000 },
      budgets: { normal: UNLIMITED_BUDGET, critical: UNLIMITED_BUDGET },
    });
    try {
      const planner = new ReplicationPlanner({ topology, spec: topology.nodes.get('branch')!, catalog: catalogOf(bodies), store, metrics, downloader, source, gc: new GarbageCollector(store, 60_000, createLogger({ level: 'silent' })), gcEveryMs: 60_000 });
      planner.start();
      for (const [i, sha] of [c, b, a].entries()) {
        assert.equal((await source.untilStarted(i + 1))[i], sha, `fetch ${i + 1}: the most urgent still missing`);
        const stored = new Promise<void>((resolve) => downloader.onStored((w) => w.sha256 === sha && resolve()));
        source.let(sha);
        await stored;
      }
      assert.deepEqual(planner.progress(10), { pendingBytes: 0, pendingBlobs: 0, transfers: [] });
      planner.close();
    } finally {
      await downloader.close();
    }
  });
});

describe('the vendor planner', () => {
  it('wants the files of approved feed packages, each from its feed\'s URL, most urgent first', async () => {
    const feed = (id: string, severity: 'low' | 'important' | 'critical', c: string) => publish(id, severity, c, { feed: { name: 'vendor', paths: [`pool/main/${id}.deb`] } });
    const bodies = [feed('a@1', 'low', 'a'), feed('b@1', 'critical', 'b'), feed('c@1', 'important', 'c'), feed('new@1', 'critical', 'n'), publish('own@1', 'critical', 'o'), approve('a@1', 'all', 1), approve('b@1', 'pilot', 2), approve('c@1', 'all', 3), approve('own@1', 'all', 1)];
    const { told, downloader } = recordingDownloader();
    const planner = new VendorPlanner({ catalog: catalogOf(bodies), store: new MemoryBlobStore(), feeds: topology.feeds, downloader });
    planner.start();
    await planner.close();
    const wants = told[0]!;
    assert.deepEqual(inOrder(wants), [shaOf('b'), shaOf('c'), shaOf('a')], 'not a package still new, nor one published by hand');
    const b = wants.get(shaOf('b'))!;
    assert.ok(b.source instanceof UrlSource);
    assert.equal((b.source as UrlSource).url, 'http://vendor.invalid/debian/pool/main/b@1.deb');
    assert.equal(b.source.notFoundIsTransient, false, 'a vendor\'s 404 is a failure, not "not yet"');
    assert.deepEqual(planner.pending(), { blobs: 3, bytes: 120_000 });
  });
});
