import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CatalogState, type PackageView } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, RING_ALL, sealRecord, type RecordBody } from '../../src/catalog/records.js';

const at = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();

function stateOf(bodies: readonly RecordBody[]): CatalogState {
  const state = new CatalogState();
  let prev = GENESIS_HASH;
  bodies.forEach((b, i) => {
    const r = sealRecord(b, i + 1, prev);
    prev = r.hash;
    state.apply(r);
  });
  return state;
}

const publish = (id: string, n: number): RecordBody => ({ type: 'publish', id, severity: 'important', files: [{ name: id, size: 1, sha256: String(n % 10).repeat(64) }], by: 'p', at: at(n) });
const approve = (id: string, ring: string, n: number): RecordBody => ({ type: 'approve', id, ring, by: 'a', at: at(n) });

describe('per-ring supersede: a ring changes only by an act on that ring', () => {
  it('a fix approved for pilot replaces 1.0 for pilot only; broad keeps 1.0; withdrawing the fix from pilot brings pilot back to 1.0', () => {
    const records: RecordBody[] = [publish('app@1.0', 1), publish('app@1.1', 2), { type: 'supersede', id: 'app@1.0', supersededBy: 'app@1.1', by: 'feed', at: at(2) }, approve('app@1.0', 'broad', 3), approve('app@1.1', 'pilot', 4)];
    let s = stateOf(records);
    const v10 = s.get('app@1.0')!;
    const v11 = s.get('app@1.1')!;
    assert.equal(s.stateFor(v10, 'broad'), 'approved');
    assert.equal(s.stateFor(v10, 'pilot'), 'superseded', 'not approved for pilot, and replaced there anyway');
    assert.equal(s.stateFor(v11, 'pilot'), 'approved');
    assert.equal(s.stateFor(v11, 'broad'), 'new');
    assert.equal(s.stateOf(v10), 'approved', 'broad still receives it');
    assert.deepEqual([s.isWantedBy(v10, ['broad']), s.isWantedBy(v10, ['pilot']), s.isWantedBy(v11, ['pilot']), s.isWantedBy(v11, ['broad'])], [true, false, true, false]);
    assert.equal(s.isWantedBy(v10, ['pilot', 'broad']), true, 'a hub serving both rings holds both');
    assert.equal(s.isWantedBy(v10, []), false, 'a node of no ring receives what all does');

    s = stateOf([...records, { type: 'withdraw', id: 'app@1.1', ring: 'pilot', by: 'a', at: at(5) }, approve('app@1.0', 'pilot', 6)]);
    assert.equal(s.stateFor(s.get('app@1.0')!, 'pilot'), 'approved', 'pilot falls back to 1.0 once 1.1 is withdrawn from it');
    assert.equal(s.stateOf(s.get('app@1.1')!), 'new');
  });

  it('a successor approved for all replaces the package in every ring; one further down the chain counts too', () => {
    const s = stateOf([publish('x@1', 1), publish('x@2', 2), publish('x@3', 3), { type: 'supersede', id: 'x@1', supersededBy: 'x@2', by: 'f', at: at(3) }, { type: 'supersede', id: 'x@2', supersededBy: 'x@3', by: 'f', at: at(3) }, approve('x@1', 'pilot', 4), approve('x@1', 'broad', 4), approve('x@3', 'broad', 5)]);
    const x1 = s.get('x@1')!;
    assert.equal(s.supersededFor(x1, 'broad'), 'x@3', 'x@2 is not approved anywhere; x@3 is, for broad');
    assert.equal(s.supersededFor(x1, 'pilot'), undefined);
    const all = stateOf([publish('y@1', 1), publish('y@2', 2), { type: 'supersede', id: 'y@1', supersededBy: 'y@2', by: 'f', at: at(2) }, approve('y@1', 'pilot', 3), approve('y@2', RING_ALL, 4)]);
    assert.equal(all.stateOf(all.get('y@1')!), 'superseded');
    assert.equal(all.stateFor(all.get('y@1')!, 'pilot'), 'superseded');
  });

  it('migration: a catalog written before per-ring supersede keeps its meaning wherever no ring disagrees (generated catalogs)', () => {
    const RINGS = ['pilot', 'broad', RING_ALL];
    const NODE_RINGS: string[][] = [[], ['pilot'], ['broad'], ['pilot', 'broad']];
    // The rule catalogs were written under: superseded once the direct successor was approved for any ring.
    const oldStateOf = (s: CatalogState, p: PackageView) => {
      if (p.declined) return 'declined';
      const succ = p.supersededBy ? s.get(p.supersededBy) : undefined;
      if (succ && !succ.declined && succ.approvals.size > 0) return 'superseded';
      return p.approvals.size > 0 ? 'approved' : 'new';
    };
    const oldWanted = (s: CatalogState, p: PackageView, rings: readonly string[]) => oldStateOf(s, p) === 'approved' && (p.approvals.has(RING_ALL) || rings.some((r) => p.approvals.has(r)));
    // Rings agree when the first approved package down a chain is the direct successor, and
    // it is approved for all or for every ring its predecessor is (a never-approved
    // predecessor: for all).
    const approved = (q: PackageView | undefined) => q !== undefined && !q.declined && q.approvals.size > 0;
    const agree = (s: CatalogState) =>
      [...s.all()].every((p) => {
        if (p.declined || !p.supersededBy) return true;
        const succ = s.get(p.supersededBy)!;
        if (!approved(succ)) {
          for (let n = succ.supersededBy; n; n = s.get(n)?.supersededBy) if (approved(s.get(n))) return false;
          return true;
        }
        if (succ.approvals.has(RING_ALL)) return true;
        return p.approvals.size > 0 && !p.approvals.has(RING_ALL) && [...p.approvals.keys()].every((r) => succ.approvals.has(r));
      });
    const action = fc.oneof(
      fc.record({ kind: fc.constant('approve' as const), pkg: fc.nat(3), ring: fc.constantFrom(...RINGS) }),
      fc.record({ kind: fc.constant('decline' as const), pkg: fc.nat(3) }),
    );
    let compared = 0;
    fc.assert(
      fc.property(fc.array(action, { maxLength: 10 }), (acts) => {
        const bodies: RecordBody[] = [];
        for (let v = 0; v < 4; v++) {
          bodies.push(publish(`lib@${v}`, v));
          if (v > 0) bodies.push({ type: 'supersede', id: `lib@${v - 1}`, supersededBy: `lib@${v}`, by: 'f', at: at(v) });
        }
        const declined = new Set<number>();
        const approvedFor = new Map<number, Set<string>>();
        acts.forEach((a, i) => {
          if (a.kind === 'decline') {
            if (declined.has(a.pkg)) return;
            declined.add(a.pkg);
            approvedFor.delete(a.pkg);
            bodies.push({ type: 'decline', id: `lib@${a.pkg}`, by: 'a', at: at(10 + i) });
          } else {
            declined.delete(a.pkg);
            const set = approvedFor.get(a.pkg) ?? new Set();
            if (set.has(a.ring)) return;
            set.add(a.ring);
            approvedFor.set(a.pkg, set);
            bodies.push(approve(`lib@${a.pkg}`, a.ring, 10 + i));
          }
        });
        const s = stateOf(bodies);
        if (!agree(s)) return;
        compared++;
        for (const p of s.all()) {
          assert.equal(s.stateOf(p), oldStateOf(s, p), `${p.id}: state`);
          for (const rings of NODE_RINGS) assert.equal(s.isWantedBy(p, rings), oldWanted(s, p, rings), `${p.id} for [${rings.join(',')}]`);
        }
      }),
      { numRuns: 400, seed: 38 },
    );
    assert.ok(compared > 50, `enough agreeing catalogs were compared (${compared})`);
  });
});
