import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from '../../src/metrics/metrics.js';
import { ReportStore, type Report } from '../../src/reports/report-store.js';
import { openMetaDb, sublevels, syncBatch } from '../../src/store/meta-db.js';
import { tempDir } from '../helpers/env.js';

const at = (s: number) => new Date(Date.UTC(2026, 10, 27, 8, 0, s)).toISOString();
const rep = (clientId: string, pkg: string, status: Report['status'], sec: number, error?: string): Report => ({ clientId, package: pkg, status, at: at(sec), ...(error ? { error } : {}) });

async function open(dir: string) {
  const db = await openMetaDb(dir);
  const store = await ReportStore.open(db, createMetrics('n', '0'));
  return { db, store };
}

describe('the report store (real LevelDB)', () => {
  it('keeps counts right through replacements, and the newest failures even after more than it holds recover', async () => {
    const dir = tempDir();
    const { db, store } = await open(dir);
    // 300 endpoints fail (more than the 200 failures a summary lists), one second apart.
    for (let i = 0; i < 300; i += 100) await store.record(Array.from({ length: 100 }, (_, j) => rep(`c${i + j}`, 'fix@1', 'failed', i + j, `exit ${i + j}`)));
    let s = store.summary();
    assert.deepEqual([s.clients, s.packages['fix@1'], s.failures.length, s.failures[0]!.clientId], [300, { failed: 300 }, 200, 'c299']);
    // The 250 newest succeed later: the 50 oldest failures, dropped from the list, come back.
    await store.record(Array.from({ length: 250 }, (_, j) => rep(`c${50 + j}`, 'fix@1', 'succeeded', 1000 + j)));
    s = store.summary();
    assert.deepEqual(s.packages['fix@1'], { failed: 50, succeeded: 250 });
    assert.deepEqual(s.failures.map((f) => f.clientId), Array.from({ length: 50 }, (_, j) => `c${49 - j}`), 'the remaining failures, newest first');
    assert.equal(s.failures[0]!.error, 'exit 49');
    await db.close();
    const again = await open(dir);
    assert.deepEqual(again.store.summary(), s, 'the same after a restart');
    await again.db.close();
  });

  it('batches arriving together are decided in order: a repeat or an older report changes nothing', async () => {
    const dir = tempDir();
    const { db, store } = await open(dir);
    const results = await Promise.all([
      store.record([rep('a', 'p@1', 'pending', 1), rep('b', 'p@1', 'failed', 1, 'x')]),
      store.record([rep('a', 'p@1', 'succeeded', 5)]),
      store.record([rep('a', 'p@1', 'failed', 3, 'late')]),
      store.record([rep('b', 'p@1', 'failed', 1, 'x')]),
      store.record([rep('b', 'p@1', 'succeeded', 2), rep('a', 'q@1', 'succeeded', 2)]),
    ]);
    assert.deepEqual(results, [{ accepted: 2, unchanged: 0 }, { accepted: 1, unchanged: 0 }, { accepted: 0, unchanged: 1 }, { accepted: 0, unchanged: 1 }, { accepted: 2, unchanged: 0 }]);
    const s = store.summary();
    assert.deepEqual([s.clients, s.packages], [2, { 'p@1': { succeeded: 2 }, 'q@1': { succeeded: 1 } }]);
    assert.deepEqual(s.failures, []);
    await db.close();
  });

  it('reports stored by an earlier version (no order time, no client register) are counted at start', async () => {
    const dir = tempDir();
    const db = await openMetaDb(dir);
    const reports = sublevels(db).reports;
    await syncBatch(db, [rep('old1', 'p@1', 'succeeded', 1), rep('old2', 'p@1', 'failed', 2, 'e'), rep('old1', 'q@1', 'failed', 3, 'f')].map((r) => ({ type: 'put' as const, sublevel: reports, key: `${r.package}\u0000${r.clientId}`, value: r })));
    const store = await ReportStore.open(db, createMetrics('n', '0'));
    const s = store.summary();
    assert.deepEqual([s.clients, s.packages, s.failures.map((f) => f.clientId)], [2, { 'p@1': { succeeded: 1, failed: 1 }, 'q@1': { failed: 1 } }, ['old1', 'old2']]);
    // An older report than the stored one still changes nothing.
    assert.deepEqual(await store.record([rep('old1', 'p@1', 'failed', 0, 'stale')]), { accepted: 0, unchanged: 1 });
    await db.close();
  });
});
