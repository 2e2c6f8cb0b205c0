import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Severity } from '../../src/domain/severity.js';
import { Downloader } from '../../src/download/downloader.js';
import { LastError } from '../../src/download/last-error.js';
import { priorityOf } from '../../src/download/priority.js';
import type { DownloadTuning } from '../../src/download/tuning.js';
import type { Source, Want } from '../../src/download/want.js';
import { SluiceError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { UNLIMITED_BUDGET } from '../../src/schedule/rate-budget.js';
import { FakeBatches, FakeSource } from '../helpers/fake-source.js';
import { MemoryBlobStore, emptyDisk } from '../helpers/memory-store.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One slot per lane, and blobs above 1 KiB in the large lane: the order of starts shows the order of wants. */
const TUNING: DownloadTuning = {
  backoffFloorMs: 500,
  backoffCapMs: 60_000,
  stallMs: 30_000,
  checkpointBytes: 64 * 1024 * 1024,
  checkpointMs: 5000,
  smallConcurrency: 1,
  largeConcurrency: 1,
  packedConcurrency: 64,
  criticalConcurrency: 1,
  missingAfterMs: 10_000,
  diskReserveBytes: 0,
  smallBlobBytes: 1024,
  partialTtlMs: 7 * 86_400_000,
  gcEveryMs: 60_000,
};

const open: Downloader[] = [];
afterEach(async () => {
  for (const d of open.splice(0)) await d.close();
});

function downloader(o: { store?: MemoryBlobStore; tuning?: Partial<DownloadTuning>; freeBytes?: () => Promise<number | undefined>; now?: () => number; errors?: LastError } = {}) {
  const store = o.store ?? new MemoryBlobStore();
  const d = new Downloader({
    store,
    metrics: createMetrics('test', '0', { upstreams: [], children: [] }),
    log: createLogger({ level: 'silent' }),
    tuning: { ...TUNING, ...o.tuning },
    budgets: { normal: UNLIMITED_BUDGET, critical: UNLIMITED_BUDGET },
    ...(o.freeBytes ? { freeBytes: o.freeBytes } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.errors ? { errors: o.errors } : {}),
  });
  open.push(d);
  return { d, store };
}

/** A blob `source` can give, as a planner would want it. */
function blob(source: FakeSource, o: { size?: number; severity?: Severity; approvedAtMs?: number; name?: string } = {}): Want {
  const bytes = randomBytes(o.size ?? 40_000);
  source.blobs.set(sha(bytes), bytes);
  const severity = o.severity ?? 'moderate';
  return { sha256: sha(bytes), size: bytes.length, priority: priorityOf({ severity, approvedAtMs: o.approvedAtMs ?? 0 }), source: source as Source, severity, packages: [o.name ?? `p${sha(bytes).slice(0, 4)}@1`] };
}

const wanting = (...wants: Want[]) => new Map(wants.map((w) => [w.sha256, w]));

/** Lets every reaction already due run (the failure of an attempt just begun, its commit). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Resolves once `d` has stored blob `sha256`. */
function stored(d: Downloader, sha256: string): Promise<void> {
  return new Promise((resolve) => {
    const off = d.onStored((w) => {
      if (w.sha256 !== sha256) return;
      off();
      resolve();
    });
  });
}

describe('the downloader', () => {
  it('starts the most urgent blob first in each lane; a critical blob has slots of its own', async () => {
    const source = new FakeSource();
    source.hold = true;
    const low = blob(source, { severity: 'low', approvedAtMs: 1 });
    const later = blob(source, { severity: 'important', approvedAtMs: 2 });
    const earlier = blob(source, { severity: 'important', approvedAtMs: 1 });
    const critical = blob(source, { severity: 'critical', approvedAtMs: 9 });
    const { d, store } = downloader();
    assert.equal(d.want(wanting(low, later, earlier, critical)), 4);
    // The large lane has one slot, the critical lane its own: both start at once.
    assert.deepEqual(new Set(await source.untilStarted(2)), new Set([critical.sha256, earlier.sha256]));
    const order = [earlier, later, low];
    for (const [i, w] of order.entries()) {
      const done = stored(d, w.sha256);
      source.let(w.sha256);
      await done;
      assert.ok(store.has(w.sha256));
      if (i + 1 < order.length) assert.equal((await source.untilStarted(3 + i))[2 + i], order[i + 1]!.sha256, 'then the next most urgent');
    }
    assert.deepEqual(d.want(wanting(low, later, earlier, critical)), 0, 'nothing new to queue');
  });

  it('small blobs from a source that batches go many per request, most urgent first; without batches one request each', async () => {
    const batches = new FakeBatches();
    const source = new FakeSource('upstream', true, batches);
    batches.source = source;
    const wants = Array.from({ length: 100 }, (_, i) => blob(source, { size: 1000 + i, approvedAtMs: 1000 - i }));
    const { d, store } = downloader();
    const all = Promise.all(wants.map((w) => stored(d, w.sha256)));
    d.want(wanting(...wants));
    await all;
    assert.deepEqual(batches.requests.map((r) => r.length), [64, 36]);
    assert.deepEqual(batches.requests.flat(), [...wants].sort((a, b) => b.priority - a.priority).map((w) => w.sha256));
    assert.ok(wants.every((w) => store.has(w.sha256)));

    const vendor = new FakeSource('feed:vendor', false);
    const few = [blob(vendor, { size: 500 }), blob(vendor, { size: 600 })];
    const { d: d2 } = downloader();
    const both = Promise.all(few.map((w) => stored(d2, w.sha256)));
    d2.want(wanting(...few));
    await both;
    assert.deepEqual(vendor.started.map((s) => s.kind), ['whole', 'whole']);
  });

  describe('failure policy (timers mocked: no test waits)', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
    afterEach(() => mock.timers.reset());

    it('a node\'s 404 is asked again within 2 s and blamed only after missingAfterMs; a vendor\'s 404 backs off like any failure', async () => {
      let now = 0;
      const node = new FakeSource('hub', true);
      const vendor = new FakeSource('feed:vendor', false);
      const fromNode = blob(node);
      const fromVendor = blob(vendor);
      const notFound = () => new SluiceError('BLOB_NOT_FOUND', 'not held');
      node.failures.set(fromNode.sha256, [notFound(), notFound(), notFound()]);
      vendor.failures.set(fromVendor.sha256, [notFound()]);
      const errors = new LastError();
      const { d, store } = downloader({ now: () => now, errors, tuning: { backoffFloorMs: 60_000, largeConcurrency: 2 } });
      d.want(wanting(fromNode, fromVendor));
      await node.untilStarted(1);
      await vendor.untilStarted(1);
      await settle();
      assert.equal(errors.view?.code, 'BLOB_NOT_FOUND', 'a failure is the node\'s last error');
      mock.timers.tick(2000);
      await node.untilStarted(2);
      await settle();
      assert.equal(vendor.started.length, 1, 'the vendor is not asked again within 2 s');
      assert.deepEqual(node.blamed, [], 'not the node\'s fault yet');
      assert.equal(d.missing().length, 0);
      now = 10_000;
      mock.timers.tick(2000);
      await node.untilStarted(3);
      await settle();
      assert.deepEqual(node.blamed, ['hub'], 'past missingAfterMs a 404 counts against the node');
      assert.deepEqual(d.missing().map((m) => [m.sha256, m.peer]), [[fromNode.sha256, 'hub']]);
      const done = stored(d, fromNode.sha256);
      mock.timers.tick(2000);
      await done;
      assert.ok(store.has(fromNode.sha256));
      mock.timers.tick(60_000);
      await vendor.untilStarted(2);
    });

    it('BLOB_PENDING (the source is fetching the blob itself) is no error: waiting, asked again soon, nothing recorded', async () => {
      const source = new FakeSource();
      const w = blob(source);
      source.failures.set(w.sha256, [new SluiceError('BLOB_PENDING', 'the peer is fetching it')]);
      const errors = new LastError();
      const { d } = downloader({ errors });
      d.want(wanting(w));
      await source.untilStarted(1);
      await settle();
      const view = d.transfers.get(w.sha256)!;
      assert.deepEqual([view.state, view.lastError, view.attempts], ['waiting', undefined, 1]);
      assert.equal(errors.view, undefined);
      assert.equal(d.pending(w.sha256), true, 'on its way: a child asking is told so');
      assert.deepEqual(source.blamed, []);
      const done = stored(d, w.sha256);
      mock.timers.tick(2000);
      await done;
    });

    it('an error retrying cannot help waits the longest, shown with its error; a failing transfer is not pending for a child that asks', async () => {
      const source = new FakeSource();
      const w = blob(source);
      source.failures.set(w.sha256, [new SluiceError('UPSTREAM_BAD_RESPONSE', 'refused'), new SluiceError('FORBIDDEN', 'not for you')]);
      const { d } = downloader();
      d.want(wanting(w));
      await source.untilStarted(1);
      await settle();
      assert.equal(d.pending(w.sha256), false, 'waiting after a failure: asking elsewhere may help the child');
      assert.deepEqual(source.blamed, ['upstream'], 'a bad response is the peer\'s fault');
      mock.timers.tick(60_000);
      await source.untilStarted(2);
      await settle();
      assert.equal(d.transfers.get(w.sha256)?.lastError?.code, 'FORBIDDEN', 'kept, with its error, for status');
      d.want(wanting(w));
      mock.timers.tick(59_000);
      await settle();
      assert.equal(source.started.length, 2, 'a plan does not start it again before the longest backoff');
      const done = stored(d, w.sha256);
      mock.timers.tick(1_000);
      await done;
    });
  });

  it('relays a large blob as it arrives: a request waiting before it starts gets it at its first bytes, the last byte waits for verification, then it is stored', async () => {
    const source = new FakeSource();
    source.hold = true;
    const w = blob(source, { size: 100_000 });
    const { d } = downloader();
    d.want(wanting(w));
    const answer = await d.relay(w.sha256, 60_000);
    assert.equal(answer.kind, 'arriving');
    const arrival = (answer as { arrival: import('../../src/download/arrival.js').Arrival }).arrival;
    assert.equal(await arrival.available(0, w.size - 1), w.size >> 1, 'the first half, as it landed');
    let last = false;
    const lastByte = arrival.available(w.size - 1, w.size - 1).then(() => (last = true));
    await Promise.resolve();
    assert.equal(last, false, 'held back until verified');
    const reader = await arrival.open();
    const done = stored(d, w.sha256);
    source.let(w.sha256);
    await lastByte;
    await done;
    const buf = Buffer.alloc(w.size);
    await reader.read(buf, 0, w.size, 0);
    await reader.close();
    assert.ok(buf.equals(source.blobs.get(w.sha256)!), 'a reader opened before the commit reads the whole blob');
    assert.equal((await d.relay(w.sha256, 0)).kind, 'stored');
  });

  it('a relay whose transfer fails verification rejects with RELAY_FAILED; a blob not wanted is absent at once', async () => {
    const source = new FakeSource();
    source.hold = true;
    const w = blob(source, { size: 100_000 });
    source.corrupt.add(w.sha256);
    const { d } = downloader();
    d.want(wanting(w));
    const answer = await d.relay(w.sha256, 60_000);
    assert.equal(answer.kind, 'arriving');
    const arrival = (answer as { arrival: import('../../src/download/arrival.js').Arrival }).arrival;
    const last = arrival.available(w.size - 1, w.size - 1);
    source.let(w.sha256);
    await assert.rejects(last, { code: 'RELAY_FAILED' });
    assert.deepEqual(await d.relay(sha(randomBytes(8)), 60_000), { kind: 'absent' });
  });

  it('a blob no longer wanted stops, and what it held is dropped; orphan partials are collected, a wanted one kept', async () => {
    const source = new FakeSource();
    source.hold = true;
    const first = blob(source);
    const queued = blob(source, { severity: 'low' });
    // Partials from before a restart: one of the queued blob, one nobody wants.
    const disk = emptyDisk();
    const before = new MemoryBlobStore(disk);
    for (const w of [queued, blob(new FakeSource())]) {
      const dl = await before.openDownload(w.sha256, w.size);
      const sink = await dl.openForWrite(0);
      await sink.write(Buffer.alloc(1000, 1), 0, 1000, 0);
      await dl.checkpoint(1000);
      dl.release();
    }
    const store = new MemoryBlobStore(disk);
    const { d } = downloader({ store });
    d.want(wanting(first, queued));
    await source.untilStarted(1);
    await d.collectOrphans();
    assert.deepEqual((await store.idleDownloads()).map((x) => x.sha256), [queued.sha256], 'the orphan went; the queued blob keeps what it holds');
    assert.equal(d.transfers.get(queued.sha256)!.offset, 1000, 'its progress counts from what it holds');
    // Declined while arriving: its attempt stops and drops its half.
    d.want(wanting(queued));
    await settle();
    assert.equal(store.disk.partials.has(first.sha256), false, 'nothing of the withdrawn blob stays');
    assert.equal(d.transfers.has(first.sha256), false);
  });

  it('refuses a transfer that cannot fit with STORE_FULL, counting what the transfers under way still need', async () => {
    const source = new FakeSource();
    const w = blob(source, { size: 100_000 });
    const errors = new LastError();
    const { d, store } = downloader({ freeBytes: async () => 50_000, errors });
    d.want(wanting(w));
    for (let i = 0; i < 1000 && !errors.view; i++) await settle();
    assert.equal(errors.view?.code, 'STORE_FULL');
    assert.equal(store.has(w.sha256), false);
    assert.equal(source.started.length, 0, 'nothing was asked of the source');
  });
});
