import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { PeerClient } from '../../src/protocol/peer-client.js';
import { PeerSelector } from '../../src/download/peers.js';
import path from 'node:path';
import { parseTopology as parse } from '../../src/topology/load.js';
import { tempDir } from '../helpers/env.js';

const parseTopology = (text: string) => parse(text, path.join(tempDir(), 'topology.yaml'));

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
