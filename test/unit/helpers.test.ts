import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type CatalogRecord, type RecordBody } from '../../src/catalog/records.js';
import { planResponse } from '../../src/http/range-plan.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/log/logger.js';
import { PeerClient } from '../../src/protocol/peer-client.js';
import { backoffMs } from '../../src/replicate/backoff.js';
import { PeerSelector } from '../../src/replicate/peers.js';
import { wantedBlobs } from '../../src/replicate/wanted.js';
import { BatchedWriter } from '../../src/store/batched-writer.js';
import { parseTopology as parse } from '../../src/topology/load.js';
import { parseContentRange } from '../../src/transfer/fetch-blob.js';
import { tempDir } from '../helpers/env.js';

const parseTopology = (text: string) => parse(text, path.join(tempDir(), 'topology.yaml'));

const ETAG = `"${'a'.repeat(64)}"`;

describe('backoffMs', () => {
  it('stays within [floor/4, min(cap, floor·2^attempt)] and grows with the attempt', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(60_000, 500 * 2 ** Math.min(attempt, 30));
      assert.equal(backoffMs(attempt, 500, 60_000, () => 0.999999), Math.floor(0.999999 * ceiling));
      assert.equal(backoffMs(attempt, 500, 60_000, () => 0), 125, 'never below a quarter of the floor');
    }
    assert.equal(backoffMs(1000, 500, 60_000, () => 0.5), 30_000, 'huge attempts are capped, not Infinity');
  });
});

describe('planResponse (RFC 9110)', () => {
  const plan = (h: Record<string, string>) => planResponse(h, ETAG, 1000);
  it('whole, ranges, suffixes, and what is ignored', () => {
    assert.deepEqual(plan({}), { status: 200, start: 0, end: 999 });
    assert.deepEqual(plan({ range: 'bytes=10-19' }), { status: 206, start: 10, end: 19 });
    assert.deepEqual(plan({ range: 'bytes=990-' }), { status: 206, start: 990, end: 999 });
    assert.deepEqual(plan({ range: 'bytes=-10' }), { status: 206, start: 990, end: 999 });
    assert.deepEqual(plan({ range: 'bytes=5-2' }), { status: 200, start: 0, end: 999 }, 'last < first is invalid: ignored');
    assert.deepEqual(plan({ range: 'items=0-1' }), { status: 200, start: 0, end: 999 }, 'another unit: ignored');
    assert.deepEqual(plan({ range: 'bytes=0-1,5-6' }), { status: 200, start: 0, end: 999 }, 'several ranges: whole');
    assert.deepEqual(plan({ range: 'bytes=1000-' }), { status: 416 });
    assert.deepEqual(plan({ range: 'bytes=0-9', 'if-range': '"other"' }), { status: 200, start: 0, end: 999 }, 'If-Range not matching: whole');
    assert.deepEqual(plan({ range: 'bytes=0-9', 'if-range': ETAG }), { status: 206, start: 0, end: 9 });
    assert.deepEqual(plan({ 'if-none-match': `W/${ETAG}` }), { status: 304 });
    assert.deepEqual(plan({ 'if-none-match': '*' }), { status: 304 });
  });
});

describe('parseContentRange', () => {
  it('reads bytes START-END/TOTAL and nothing else', () => {
    assert.deepEqual(parseContentRange('bytes 5-9/10'), { start: 5, end: 9, total: 10 });
    assert.deepEqual(parseContentRange(' bytes 0-0/1 '), { start: 0, end: 0, total: 1 });
    for (const bad of ['bytes */10', 'bytes 5-9/*', 'items 0-1/2', undefined, ['bytes 0-1/2']]) assert.equal(parseContentRange(bad as never), undefined);
  });
});

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

describe('BatchedWriter', () => {
  it('writes pushes in order with writev, and writeNow after what was pushed; written counts what landed', async () => {
    const file = path.join(tempDir(), 'out');
    const fh = await open(file, 'w');
    const landed: number[] = [];
    const w = new BatchedWriter(fh, 0, 8, 50, (n) => landed.push(n));
    await w.push(Buffer.from('abc'));
    await w.push(Buffer.from('defgh'));
    await w.push(Buffer.from('ij'));
    await w.writeNow(Buffer.from('XklmY'), 1, 4);
    assert.equal(w.accepted, 13);
    await w.flush();
    await fh.close();
    assert.equal(await readFile(file, 'utf8'), 'abcdefghijklm');
    assert.equal(w.written, 13);
    assert.equal(landed.reduce((a, b) => a + b, 0), 13);
  });
});

describe('PeerSelector', () => {
  it('moves to the fallback after the threshold of consecutive failures, counts only the current peer, and returns when the upstream answers', async () => {
    const topology = parseTopology(`
version: 1
primary: hq
trust: { catalogKey: k.pub }
regions: { r: { timezone: UTC } }
nodes:
  hq: { url: "http://127.0.0.1:1", region: r }
  hub: { url: "http://127.0.0.1:9", region: r, upstream: hq }
  leaf: { url: "http://127.0.0.1:3", region: r, upstream: hub, fallback: [hq] }
`);
    const metrics = createMetrics('leaf', '0', { upstreams: ['hub', 'hq'], children: [] });
    const p = new PeerSelector(topology, topology.nodes.get('leaf')!, 3, 60_000, metrics, createLogger({ level: 'silent' }), new PeerClient());
    const hub = p.current();
    assert.equal(hub.name, 'hub');
    p.failed(hub, 'X');
    p.failed(hub, 'X');
    p.succeeded(hub);
    p.failed(hub, 'X');
    p.failed(hub, 'X');
    assert.equal(p.current().name, 'hub', 'a success resets the count');
    p.failed(hub, 'X');
    assert.equal(p.current().name, 'hq');
    p.failed(hub, 'X');
    assert.equal(p.current().name, 'hq', 'failures of a peer no longer in use do not count');
    assert.match(await metrics.scrape(), /sluice_upstream_up\{peer="hub"\} 0/);
    p.close();
  });
});
