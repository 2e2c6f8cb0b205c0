import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type RecordBody } from '../../src/catalog/records.js';
import { gateVerdicts } from '../../src/promote/gate-verdicts.js';
import type { SiteSummary } from '../../src/reports/report-store.js';
import { loadTopology } from '../../src/topology/load.js';
import { tempDir } from '../helpers/env.js';

const T0 = Date.UTC(2026, 11, 1);
const at = (ms: number) => new Date(T0 + ms).toISOString();
const H = 3600_000;

function state(bodies: RecordBody[]): CatalogState {
  const s = new CatalogState();
  let prev = GENESIS_HASH;
  bodies.forEach((b, i) => {
    const r = sealRecord(b, i + 1, prev);
    prev = r.hash;
    s.apply(r);
  });
  return s;
}

function topology(rings: string) {
  const dir = tempDir();
  const file = path.join(dir, 'topology.yaml');
  writeFileSync(file, ['version: 1', 'primary: hq', 'trust: { catalogKey: k.pub }', rings, 'regions: { main: { timezone: UTC } }', 'nodes:', '  hq: { url: "http://127.0.0.1:1", region: main }', '  b: { url: "http://127.0.0.1:2", region: main, upstream: hq, ring: [pilot, broad] }', '  c: { url: "http://127.0.0.1:3", region: main, upstream: hq, ring: pilot }', '  d: { url: "http://127.0.0.1:4", region: main, upstream: hq, ring: broad }'].join('\n'));
  return loadTopology(file);
}

const site = (pilot: Record<string, Partial<Record<'succeeded' | 'failed' | 'pending' | 'not-applicable', number>>>, failures: SiteSummary['failures'] = []): SiteSummary => ({ clients: 10, packages: {}, rings: { pilot: { clients: 10, packages: pilot } }, failures });

describe('promotion gates decide from the reports alone, the same way every time', () => {
  const records: RecordBody[] = [
    { type: 'publish', id: 'fix@2', severity: 'important', files: [{ name: 'f', size: 1, sha256: 'a'.repeat(64) }], by: 'p', at: at(0) },
    { type: 'approve', id: 'fix@2', ring: 'pilot', by: 'a', at: at(0) },
    { type: 'publish', id: 'hot@1', severity: 'critical', files: [{ name: 'h', size: 1, sha256: 'b'.repeat(64) }], by: 'p', at: at(0) },
    { type: 'approve', id: 'hot@1', ring: 'pilot', by: 'a', at: at(0) },
  ];
  const t = topology('rings: { pilot: { promote: { to: broad, after: 3d, minClients: 3, minSucceeded: 90%, maxFailed: 0, critical: { after: 2h } } }, broad: {} }');

  it('waits for its time, then for enough clients, then for enough successes; ready once all hold', () => {
    const s = state(records);
    const v = (sites: Record<string, SiteSummary>, ms: number) => gateVerdicts(s, t, sites, T0 + ms).find((x) => x.package === 'fix@2')!;
    assert.equal(v({}, H).state, 'waiting');
    assert.match(v({}, H).reason, /promotes to broad at 2026-12-04T00:00:00\.000Z at the earliest \(3d00h after its approval for pilot\)/);
    assert.match(v({ b: site({ 'fix@2': { succeeded: 2, pending: 1 } }) }, 80 * H).reason, /^2 pilot clients reported an outcome, 3 needed \(1 still installing\)$/);
    assert.match(v({ b: site({ 'fix@2': { succeeded: 2 } }), c: site({ 'fix@2': { succeeded: 7, 'not-applicable': 5 } }) }, 80 * H).reason, /passed its gate \(9 of 9 pilot clients succeeded, 0 failed, 3d08h in pilot\): the primary approves it for broad/);
    const ready = v({ b: site({ 'fix@2': { succeeded: 2 } }), c: site({ 'fix@2': { succeeded: 7 } }) }, 80 * H);
    assert.equal(ready.state, 'ready');
    assert.deepEqual(ready.evidence.sites, { b: { clients: 2, succeeded: 2, failed: 0, pending: 0 }, c: { clients: 7, succeeded: 7, failed: 0, pending: 0 } });
  });

  it('a failure holds it at once, named by the most frequent message; a critical package has its own shorter gate', () => {
    const s = state(records);
    const failures = [{ clientId: 'x', package: 'fix@2', error: 'dpkg exit 1', at: at(0) }];
    const held = gateVerdicts(s, t, { b: site({ 'fix@2': { succeeded: 11, failed: 1 } }, failures) }, T0 + H).find((x) => x.package === 'fix@2')!;
    assert.equal(held.state, 'held');
    assert.equal(held.reason, '1 of 12 pilot clients failed: dpkg exit 1 (the gate allows 0); held until the failures are resolved or the package is withdrawn');
    const hot = gateVerdicts(s, t, { b: site({ 'hot@1': { succeeded: 3 } }) }, T0 + 2 * H).find((x) => x.package === 'hot@1')!;
    assert.equal(hot.state, 'ready', 'two hours suffice for a critical package');
    assert.equal(hot.gate.afterMs, 2 * H);
  });

  it('counts only sites whose node serves the gated ring: a broad-only site\'s figures for pilot move nothing', () => {
    const s = state(records);
    const v = gateVerdicts(s, t, { d: site({ 'fix@2': { succeeded: 50 } }), b: site({ 'fix@2': { succeeded: 1 } }) }, T0 + 80 * H).find((x) => x.package === 'fix@2')!;
    assert.equal(v.evidence.clients, 1, 'd serves broad only');
    assert.deepEqual(Object.keys(v.evidence.sites), ['b']);
    assert.equal(v.state, 'waiting');
  });

  it('leaves the gate once the next ring has it, or a successor replaced it in its ring; propose asks a person', () => {
    const promoted = state([...records, { type: 'approve', id: 'fix@2', ring: 'broad', by: 'rule:pilot→broad', at: at(H) }]);
    assert.ok(!gateVerdicts(promoted, t, {}, T0 + H).some((x) => x.package === 'fix@2'));
    const replaced = state([...records, { type: 'publish', id: 'fix@3', severity: 'important', files: [{ name: 'f3', size: 1, sha256: 'c'.repeat(64) }], by: 'p', at: at(1) }, { type: 'supersede', id: 'fix@2', supersededBy: 'fix@3', by: 'p', at: at(1) }, { type: 'approve', id: 'fix@3', ring: 'pilot', by: 'a', at: at(2) }]);
    assert.deepEqual(gateVerdicts(replaced, t, {}, T0 + H).map((x) => x.package).sort(), ['fix@3', 'hot@1']);
    const propose = topology('rings: { pilot: { promote: { to: broad, after: 1h, mode: propose } }, broad: {} }');
    const v = gateVerdicts(state(records), propose, { b: site({ 'fix@2': { succeeded: 1 } }) }, T0 + 2 * H).find((x) => x.package === 'fix@2')!;
    assert.equal(v.state, 'ready');
    assert.match(v.reason, /approve it for broad with "sluice approve fix@2 --ring broad"/);
  });
});
