import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type RecordBody } from '../../src/catalog/records.js';
import type { ChildStatus } from '../../src/protocol/status.js';
import type { StatusJson } from '../../src/protocol/status-text.js';
import type { SiteSummary } from '../../src/reports/report-store.js';
import { ringsView } from '../../src/reports/rings-view.js';
import { parseTopology } from '../../src/topology/load.js';
import { nodeStatus } from '../helpers/status-fixture.js';

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

const file = (n: number, language?: string) => ({ name: `f${n}`, size: 1, sha256: String(n % 10).repeat(64), ...(language ? { language } : {}) });
const publish = (id: string, n: number, extra: Partial<Extract<RecordBody, { type: 'publish' }>> = {}): RecordBody => ({ type: 'publish', id, severity: 'important', files: [file(n)], by: 'p', at: at(n), ...extra });
const approve = (id: string, ring: string, n: number): RecordBody => ({ type: 'approve', id, ring, by: 'a', at: at(n) });

// hq → hub (pilot) → shop (pilot and broad, French files only); hq → depot (broad).
const topology = parseTopology(
  `version: 1
primary: hq
trust: { catalogKey: k.pub }
rings: [pilot, broad]
regions:
  main: { timezone: UTC }
nodes:
  hq: { url: "http://127.0.0.1:1", region: main }
  hub: { url: "http://127.0.0.1:2", region: main, upstream: hq, ring: pilot }
  shop: { url: "http://127.0.0.1:3", region: main, upstream: hub, ring: [pilot, broad], accept: { languages: [fr] } }
  depot: { url: "http://127.0.0.1:4", region: main, upstream: hq, ring: broad }
`,
  '/t/topology.yaml',
);

/** A status tree: the primary, hub with shop below it, depot; each child as given. */
function tree(children: { hub?: Partial<StatusJson> | null; shop?: Partial<StatusJson> | null; depot?: Partial<StatusJson> | null }, seq = 10): StatusJson {
  const child = (name: string, s: Partial<StatusJson> | null | undefined, kids: Record<string, ChildStatus | null> = {}): ChildStatus | null =>
    s === null ? null : ({ ...nodeStatus({ node: name, primary: false, catalog: { seq, headExpires: null }, children: kids, ...s }), receivedAt: at(0), stale: false });
  return nodeStatus({ catalog: { seq, headExpires: null }, children: { hub: child('hub', children.hub, { shop: child('shop', children.shop) }), depot: child('depot', children.depot) } });
}

describe('the by-ring view (reports/rings-view.ts)', () => {
  it('lists every version a ring receives, newest first: Debian order for a feed, published order otherwise', () => {
    const feed = (n: number) => ({ feed: { name: 'debian', paths: [`pool/f${n}.deb`] } });
    const state = stateOf([
      publish('hello@1.10-1', 1, feed(1)),
      publish('hello@1.9-1', 2, feed(2)),
      publish('tool@2', 3),
      publish('tool@10', 4),
      approve('hello@1.10-1', 'pilot', 5),
      approve('hello@1.9-1', 'pilot', 6),
      approve('tool@2', 'pilot', 7),
      approve('tool@10', 'pilot', 8),
    ]);
    const [pilot] = ringsView({ catalog: state, topology, status: tree({}), sites: {} }, { ring: 'pilot' }).rings;
    assert.deepEqual(pilot!.packages.map((p) => [p.name, p.versions.map((v) => v.version)]), [
      ['hello', ['1.10-1', '1.9-1']],
      ['tool', ['10', '2']],
    ]);
  });

  it("orders an RPM feed's versions in rpm order (a caret snapshot before the next release, where dpkg would put it after)", () => {
    const rpmTopology = parseTopology(
      `version: 1
primary: hq
trust: { catalogKey: k.pub }
rings: [pilot]
regions:
  main: { timezone: UTC }
nodes:
  hq: { url: "http://127.0.0.1:1", region: main }
feeds:
  fedora: { type: rpm, url: "http://127.0.0.1:9", architectures: [x86_64], keyring: k.asc }
`,
      '/t/topology.yaml',
    );
    const feed = (n: number) => ({ feed: { name: 'fedora', paths: [`Packages/f${n}.rpm`] } });
    const state = stateOf([publish('tool@0.1-1', 1, feed(1)), publish('tool@0^20240101git1-1', 2, feed(2)), approve('tool@0.1-1', 'pilot', 3), approve('tool@0^20240101git1-1', 'pilot', 4)]);
    const [pilot] = ringsView({ catalog: state, topology: rpmTopology, status: nodeStatus({ catalog: { seq: 4, headExpires: null }, children: {} }), sites: {} }, { ring: 'pilot' }).rings;
    assert.deepEqual(pilot!.packages.map((p) => [p.name, p.versions.map((v) => v.version)]), [['tool', ['0.1-1', '0^20240101git1-1']]]);
  });

  it('holds, fetching, behind or unknown, from each node\'s status; hubs relay; a node taking none of the files is left out', () => {
    const state = stateOf([publish('app@1', 1, { files: [file(1, 'fr')] }), publish('doc@1', 2, { files: [file(2, 'de')] }), approve('app@1', 'broad', 3), approve('doc@1', 'broad', 4)]);
    const view = (children: Parameters<typeof tree>[0]) => {
      const broad = ringsView({ catalog: state, topology, status: tree(children), sites: {} }, { ring: 'broad' }).rings[0]!;
      return Object.fromEntries(broad.packages.map((p) => [p.name, p.versions[0]!.nodes.map((n) => `${n.node}:${n.role}:${n.state}`)]));
    };
    // shop takes French files only: doc@1 (German) reaches depot alone; app@1 goes to shop through hub.
    assert.deepEqual(view({}), { app: ['hub:relay:holds', 'shop:member:holds', 'depot:member:holds'], doc: ['depot:member:holds'] });
    const pending = { blobs: 1, bytes: 1 };
    assert.deepEqual(
      view({
        shop: { pending: { ...pending, packages: ['app@1'], morePackages: 0 } },
        depot: { pending: { ...pending, packages: ['doc@1'], morePackages: 0 } },
        hub: { catalog: { seq: 2, headExpires: null } },
      }),
      { app: ['hub:relay:behind', 'shop:member:fetching', 'depot:member:holds'], doc: ['depot:member:fetching'] },
      'a complete pending list clears what it does not name; a catalog before the approval is behind',
    );
    assert.deepEqual(
      view({ hub: null, shop: { pending }, depot: { pending: { ...pending, packages: ['x@1'], morePackages: 3 } } }),
      { app: ['hub:relay:unknown', 'shop:member:unknown', 'depot:member:unknown'], doc: ['depot:member:unknown'] },
      'no report, no list (an earlier version), or a list cut short: unknown',
    );
  });

  it('counts each site\'s endpoints of the ring: those that named it, or all of a site serving that ring alone', () => {
    const state = stateOf([publish('app@1', 1), approve('app@1', 'pilot', 2), approve('app@1', 'broad', 3)]);
    const counts = (succeeded: number, failed = 0) => ({ 'app@1': { ...(succeeded ? { succeeded } : {}), ...(failed ? { failed } : {}) } });
    const sites: Record<string, SiteSummary> = {
      // Serves pilot alone: endpoints that named no ring are pilot's.
      hub: { clients: 4, packages: counts(3, 1), failures: [] },
      // Serves both: only what endpoints said counts per ring.
      shop: { clients: 5, packages: counts(4, 1), rings: { pilot: { clients: 2, packages: counts(2) }, broad: { clients: 2, packages: counts(1, 1) } }, failures: [] },
      depot: { clients: 0, packages: {}, failures: [] },
    };
    const [pilot, broad] = ringsView({ catalog: state, topology, status: tree({}), sites }).rings;
    const e = (r: typeof pilot) => r!.packages[0]!.versions[0]!.endpoints;
    assert.deepEqual([e(pilot).clients, e(pilot).counts.succeeded, e(pilot).counts.failed, e(pilot).compliantPercent], [6, 5, 1, 83.3]);
    assert.deepEqual(pilot!.sites, [{ site: 'hub', clients: 4 }, { site: 'shop', clients: 2 }]);
    assert.deepEqual([e(broad).clients, e(broad).counts.succeeded, e(broad).counts.failed, e(broad).notReported], [2, 1, 1, 0]);
    assert.deepEqual(broad!.sites, [{ site: 'shop', clients: 2 }, { site: 'depot', clients: 0 }]);
    assert.deepEqual(e(broad).sites.map((s) => s.site), ['shop'], 'per site, only where the ring has endpoints');
  });

  it('pages over (ring, name) pairs in ring order, building rows only for the page', () => {
    const names = ['a', 'b', 'c'];
    const state = stateOf([...names.map((n, i) => publish(`${n}@1`, i + 1)), ...names.map((n, i) => approve(`${n}@1`, 'pilot', 10 + i)), approve('c@1', 'broad', 20)]);
    const page = (offset: number, limit: number) => {
      const v = ringsView({ catalog: state, topology, status: tree({}), sites: {} }, { offset, limit });
      return { total: v.total, names: v.rings.map((r) => `${r.ring}:${r.names}:${r.packages.map((p) => p.name).join('')}`) };
    };
    assert.deepEqual(page(0, 2), { total: 4, names: ['pilot:3:ab', 'broad:1:', 'all:0:'] });
    assert.deepEqual(page(2, 2), { total: 4, names: ['pilot:3:c', 'broad:1:c', 'all:0:'] });
    assert.deepEqual(page(4, 2), { total: 4, names: ['pilot:3:', 'broad:1:', 'all:0:'] });
  });
});
