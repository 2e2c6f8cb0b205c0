import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type RecordBody } from '../../src/catalog/records.js';
import { retiredBlobs } from '../../src/catalog/retention.js';

const sha = (c: string) => c.repeat(64);
const day = 86_400_000;
const at = (d: number) => new Date(Date.UTC(2026, 0, 1) + d * day).toISOString();

function stateOf(bodies: RecordBody[]): CatalogState {
  const state = new CatalogState();
  let prev = GENESIS_HASH;
  bodies.forEach((b, i) => {
    const r = sealRecord(b, i + 1, prev);
    prev = r.hash;
    state.apply(r);
  });
  return state;
}

describe('policy.retainSuperseded: which files the primary stops keeping', () => {
  const state = stateOf([
    { type: 'publish', id: 'app@1', severity: 'low', files: [{ name: 'a1', size: 1, sha256: sha('1') }, { name: 'shared', size: 9, sha256: sha('s') }], by: 'x', at: at(0) },
    { type: 'approve', id: 'app@1', ring: 'all', by: 'x', at: at(0) },
    { type: 'publish', id: 'app@2', severity: 'low', files: [{ name: 'a2', size: 2, sha256: sha('2') }, { name: 'shared', size: 9, sha256: sha('s') }], by: 'x', at: at(10) },
    { type: 'supersede', id: 'app@1', supersededBy: 'app@2', by: 'x', at: at(10) },
    { type: 'approve', id: 'app@2', ring: 'pilot', by: 'x', at: at(20) },
    { type: 'approve', id: 'app@2', ring: 'all', by: 'x', at: at(25) },
    { type: 'publish', id: 'lib@1', severity: 'low', files: [{ name: 'l1', size: 3, sha256: sha('3') }], by: 'x', at: at(0) },
    { type: 'publish', id: 'lib@2', severity: 'low', files: [{ name: 'l2', size: 4, sha256: sha('4') }], by: 'x', at: at(10) },
    { type: 'supersede', id: 'lib@1', supersededBy: 'lib@2', by: 'x', at: at(10) },
    { type: 'publish', id: 'bad@1', severity: 'low', files: [{ name: 'b', size: 5, sha256: sha('5') }], by: 'x', at: at(0) },
    { type: 'decline', id: 'bad@1', by: 'x', at: at(5) },
  ] as RecordBody[]);

  it('retires the files of a package superseded by an approved one, counted from that approval, but never a file a kept package names', () => {
    assert.deepEqual([...retiredBlobs(state, 30 * day, Date.parse(at(54)))], [sha('5')], 'app@1 superseded everywhere since day 25 only; bad@1 declined since day 5');
    assert.deepEqual([...retiredBlobs(state, 30 * day, Date.parse(at(55)))].sort(), [sha('1'), sha('5')], 'app@1 retired, its shared file kept for app@2');
  });

  it('keeps a package that some ring still receives: a successor approved for pilot replaces it for pilot only', () => {
    const perRing = stateOf([
      { type: 'publish', id: 'app@1', severity: 'low', files: [{ name: 'a1', size: 1, sha256: sha('1') }], by: 'x', at: at(0) },
      { type: 'approve', id: 'app@1', ring: 'pilot', by: 'x', at: at(0) },
      { type: 'approve', id: 'app@1', ring: 'broad', by: 'x', at: at(0) },
      { type: 'publish', id: 'app@2', severity: 'low', files: [{ name: 'a2', size: 2, sha256: sha('2') }], by: 'x', at: at(10) },
      { type: 'supersede', id: 'app@1', supersededBy: 'app@2', by: 'x', at: at(10) },
      { type: 'approve', id: 'app@2', ring: 'pilot', by: 'x', at: at(20) },
    ] as RecordBody[]);
    assert.deepEqual([...retiredBlobs(perRing, 1, Date.parse(at(1000)))], [], 'broad still receives app@1');
    const both = stateOf([
      ...([
        { type: 'publish', id: 'app@1', severity: 'low', files: [{ name: 'a1', size: 1, sha256: sha('1') }], by: 'x', at: at(0) },
        { type: 'approve', id: 'app@1', ring: 'pilot', by: 'x', at: at(0) },
        { type: 'approve', id: 'app@1', ring: 'broad', by: 'x', at: at(0) },
        { type: 'publish', id: 'app@2', severity: 'low', files: [{ name: 'a2', size: 2, sha256: sha('2') }], by: 'x', at: at(10) },
        { type: 'supersede', id: 'app@1', supersededBy: 'app@2', by: 'x', at: at(10) },
        { type: 'approve', id: 'app@2', ring: 'pilot', by: 'x', at: at(20) },
        { type: 'approve', id: 'app@2', ring: 'broad', by: 'x', at: at(40) },
      ] as RecordBody[]),
    ]);
    assert.deepEqual([...retiredBlobs(both, 10 * day, Date.parse(at(49)))], [], 'superseded in broad since day 40 only');
    assert.deepEqual([...retiredBlobs(both, 10 * day, Date.parse(at(50)))], [sha('1')], 'superseded in both of its rings since day 40');
  });

  it('keeps a package whose successor is not approved yet, and everything without the policy', () => {
    const retired = retiredBlobs(state, 1, Date.parse(at(1000)));
    assert.ok(!retired.has(sha('3')), 'lib@2 is not approved: lib@1 is still the one to install');
    assert.deepEqual([...retiredBlobs(state, undefined, Date.parse(at(1000)))], []);
  });
});
