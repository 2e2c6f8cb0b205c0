import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type RecordBody } from '../../src/catalog/records.js';
import { dependencyWarnings } from '../../src/feeds/dependency-check.js';
import { parseRelations, satisfies } from '../../src/feeds/depends.js';
import { FeedState } from '../../src/feeds/feed-state.js';
import { openMetaDb } from '../../src/store/meta-db.js';
import { tempDir } from '../helpers/env.js';

describe('Depends and Pre-Depends, read within bounds', () => {
  it('groups, alternatives, versions, qualifiers and restrictions as Debian writes them', () => {
    const groups = parseRelations('libc6 (>= 2.34), libssl3:any (>= 3.0.15-1~deb12u1) | libssl1.1 [amd64], debconf (>> 0.5) | debconf-2.0 <!nocheck>, perl (< 5.36)');
    assert.deepEqual(groups.map((g) => g.map((r) => [r.name, r.op ?? null, r.version ?? null])), [
      [['libc6', '>=', '2.34']],
      [['libssl3', '>=', '3.0.15-1~deb12u1'], ['libssl1.1', null, null]],
      [['debconf', '>>', '0.5'], ['debconf-2.0', null, null]],
      [['perl', '<=', '5.36']],
    ]);
    assert.ok(satisfies(groups[1]![0]!, '3.0.15-1~deb12u1'));
    assert.ok(!satisfies(groups[1]![0]!, '3.0.14-1'));
    assert.ok(satisfies(groups[2]![0]!, '1.5'));
  });

  it('a hostile field is read into a bounded number of distinct relations', () => {
    const repeated = parseRelations(Array.from({ length: 40_000 }, () => 'x (>= 1.0-1)').join(' | '));
    assert.equal(repeated.flat().length, 1, 'the same relation once');
    const distinct = parseRelations(Array.from({ length: 100_000 }, (_, i) => `p${i} (>= ${i})`).join(', '));
    assert.ok(distinct.flat().length <= 1024, `${distinct.flat().length} relations`);
  });

  it('a check over pathological fields stops within its budget and says so, never holding the event loop for long', async () => {
    const state = new CatalogState();
    let prev = GENESIS_HASH;
    let seq = 0;
    const add = (b: RecordBody) => {
      const r = sealRecord(b, ++seq, prev);
      prev = r.hash;
      state.apply(r);
    };
    const at = new Date().toISOString();
    const db = await openMetaDb(tempDir());
    const feeds = new FeedState(db);
    const sha = (i: number) => i.toString(16).padStart(64, '0');
    // 1,000 versions of x, and 20 packages each depending on 1,024 distinct alternatives of x.
    for (let i = 0; i < 1000; i++) add({ type: 'publish', id: `x@1.${i}-1`, severity: 'low', files: [{ name: `x_${i}.deb`, size: 1, sha256: sha(i + 1) }], feed: { name: 'v', paths: [`pool/x_${i}.deb`] }, by: 'feed:v', at });
    const stanzas: { id: string; arch: string; text: string }[] = [];
    for (let b = 0; b < 20; b++) {
      add({ type: 'publish', id: `big${b}@1`, severity: 'low', files: [{ name: `big${b}.deb`, size: 1, sha256: sha(5000 + b) }], feed: { name: 'v', paths: [`pool/big${b}.deb`] }, by: 'feed:v', at });
      stanzas.push({ id: `big${b}@1`, arch: 'all', text: `Package: big${b}\nVersion: 1\nDepends: ${Array.from({ length: 1024 }, (_, i) => `x (>= 9.${i})`).join(' | ')}\n` });
    }
    await feeds.saveStanzas(stanzas);
    const started = Date.now();
    const warnings = await dependencyWarnings(state, feeds, stanzas.map((s) => s.id), 'pilot');
    const took = Date.now() - started;
    assert.ok(took < 10_000, `the check took ${took} ms`);
    // Either every package checked quickly (no x version meets >= 9.*), or the check stopped and said so.
    assert.ok(warnings.every((w) => w.needs === '' ? /were not all checked: the check stopped after 2 s/.test(w.message) : true));
    await db.close();
  });
});
