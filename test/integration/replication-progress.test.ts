import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { TransferView } from '../../src/download/task.js';
import { priorityOf } from '../../src/download/priority.js';
import type { Want } from '../../src/download/want.js';
import { ReplicationProgress } from '../../src/replicate/progress.js';
import type { WantedBlob } from '../../src/replicate/wanted.js';
import { freshStore } from '../helpers/store.js';
import { sha256 } from '../helpers/hash.js';


describe('pending blobs in status', () => {
  it('stay right as blobs arrive and leave, though status narrows its last answer instead of rescanning everything wanted', async () => {
    const { db, store } = await freshStore();
    const contents = Array.from({ length: 6 }, () => randomBytes(2048));
    const wanted = new Map<string, WantedBlob>(contents.map((c) => [sha256(c), { sha256: sha256(c), size: c.length, severity: 'moderate', approvedAtMs: 0, packages: ['p@1'] }]));
    const transfers = new Map<string, TransferView>();
    // Only the store and the two maps are read for pending counts.
    const progress = new ReplicationProgress({ store } as unknown as ConstructorParameters<typeof ReplicationProgress>[0], () => ({ wanted, transfers }));
    const put = async (c: Buffer) => store.commit([store.stageBuffer(sha256(c), c)]);
    const pending = () => progress.progress(0).pendingBlobs;

    assert.equal(pending(), 6);
    await put(contents[0]!);
    await put(contents[1]!);
    assert.equal(pending(), 4, 'two arrived');
    assert.equal(pending(), 4, 'asked again with nothing changed');
    await store.remove(sha256(contents[0]!));
    assert.equal(pending(), 5, 'a removed blob is pending again');
    await store.quarantine(sha256(contents[1]!));
    await put(contents[2]!);
    assert.equal(pending(), 5, 'one quarantined and one arrived between two answers');
    for (const c of contents) if (!store.has(sha256(c))) await put(c);
    assert.equal(pending(), 0);
    assert.equal(progress.progress(0).pendingBytes, 0);
    await store.close();
    await db.close();
  });

  it('list the first transfers in status order (state, then urgency, ties as queued) without sorting them all', async () => {
    const { db, store } = await freshStore();
    const states = ['queued', 'active', 'waiting', 'verifying', 'paused'] as const;
    const severities = ['low', 'moderate', 'important'] as const;
    const wanted = new Map<string, WantedBlob>();
    const transfers = new Map<string, TransferView>();
    for (let i = 0; i < 2000; i++) {
      const sha = createHash('sha256').update(String(i)).digest('hex');
      // Few distinct priorities: many ties, whose order must be the order queued.
      const blob: WantedBlob = { sha256: sha, size: 100, severity: severities[i % 3]!, approvedAtMs: 1000 * (i % 7), packages: [`p${i}@1`] };
      const want: Want = { sha256: sha, size: blob.size, priority: priorityOf(blob), source: undefined as unknown as Want['source'], severity: blob.severity, packages: blob.packages };
      wanted.set(sha, blob);
      transfers.set(sha, { want, state: states[(i * 7) % 5]!, attempts: 0, offset: 0, rateBytesPerSec: 0, route: undefined, lastError: undefined, notFoundSince: undefined });
    }
    const progress = new ReplicationProgress({ store } as unknown as ConstructorParameters<typeof ReplicationProgress>[0], () => ({ wanted, transfers }));
    const all = progress.progress().transfers.map((t) => t.sha256);
    assert.equal(all.length, 2000);
    for (const n of [1, 5, 100, 249]) assert.deepEqual(progress.progress(n).transfers.map((t) => t.sha256), all.slice(0, n), `the first ${n}`);
    assert.deepEqual(progress.progress(0).transfers, []);
    await store.close();
    await db.close();
  });
});
