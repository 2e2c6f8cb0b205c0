import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type CatalogRecord, type RecordBody } from '../../src/catalog/records.js';
import { wantedBlobs } from '../../src/replicate/wanted.js';
import path from 'node:path';
import { parseTopology as parse } from '../../src/topology/load.js';
import { tempDir } from '../helpers/env.js';

const parseTopology = (text: string) => parse(text, path.join(tempDir(), 'topology.yaml'));

describe('wantedBlobs', () => {
  it('own and subtree rings, accept filters, declined and superseded out; the most urgent severity and earliest approval win', () => {
    const topology = parseTopology(`
version: 1
primary: hq
trust: { catalogKey: k.pub }
regions: { r: { timezone: UTC } }
nodes:
  hq: { url: "http://127.0.0.1:1", region: r }
  hub: { url: "http://127.0.0.1:2", region: r, upstream: hq, ring: pilot }
  fr: { url: "http://127.0.0.1:3", region: r, upstream: hub, ring: broad, accept: { languages: [fr] } }
`);
    const sha = (c: string) => c.repeat(64);
    const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();
    const bodies: RecordBody[] = [
      { type: 'publish', id: 'a@1', severity: 'low', files: [{ name: 'a', size: 1, sha256: sha('a') }], by: 'x', at: at(0) },
      { type: 'publish', id: 'b@1', severity: 'critical', files: [{ name: 'b', size: 2, sha256: sha('a') }], by: 'x', at: at(0) },
      { type: 'publish', id: 'de@1', severity: 'low', files: [{ name: 'd', size: 3, sha256: sha('d'), language: 'de' }], by: 'x', at: at(0) },
      { type: 'publish', id: 'old@1', severity: 'low', files: [{ name: 'o', size: 4, sha256: sha('e') }], by: 'x', at: at(0) },
      { type: 'publish', id: 'new@1', severity: 'low', files: [{ name: 'n', size: 5, sha256: sha('f') }], by: 'x', at: at(0) },
      { type: 'publish', id: 'no@1', severity: 'low', files: [{ name: 'x', size: 6, sha256: sha('1') }], by: 'x', at: at(0) },
      { type: 'approve', id: 'a@1', ring: 'broad', by: 'x', at: at(5) },
      { type: 'approve', id: 'b@1', ring: 'pilot', by: 'x', at: at(3) },
      { type: 'approve', id: 'de@1', ring: 'broad', by: 'x', at: at(1) },
      { type: 'approve', id: 'old@1', ring: 'all', by: 'x', at: at(1) },
      { type: 'supersede', id: 'old@1', supersededBy: 'new@1', by: 'x', at: at(2) },
      { type: 'approve', id: 'new@1', ring: 'all', by: 'x', at: at(2) },
      { type: 'approve', id: 'no@1', ring: 'all', by: 'x', at: at(1) },
      { type: 'decline', id: 'no@1', by: 'x', at: at(2) },
    ];
    const state = new CatalogState();
    let prev = GENESIS_HASH;
    bodies.forEach((b, i) => {
      const r: CatalogRecord = sealRecord(b, i + 1, prev);
      prev = r.hash;
      state.apply(r);
    });
    const hubWants = wantedBlobs(topology, topology.nodes.get('hub')!, state);
    assert.deepEqual([...hubWants.keys()].sort(), [sha('a'), sha('f')], 'shared blob once; de filtered by fr; superseded and declined out');
    const shared = hubWants.get(sha('a'))!;
    assert.equal(shared.severity, 'critical');
    assert.equal(shared.approvedAtMs, Date.parse(at(3)));
    assert.deepEqual([...wantedBlobs(topology, topology.nodes.get('fr')!, state).keys()].sort(), [sha('a'), sha('f')], 'fr: broad a, not pilot-only b (same blob), not de');
  });
});
