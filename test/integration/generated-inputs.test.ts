import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { request } from 'undici';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, PEER_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { waitFor } from '../helpers/env.js';
import { release } from '../helpers/replication.js';

/** Generated inputs per route: bounded in count, so the whole file stays well under a minute. */
const RUNS = 150;

const cookieOf = (setCookie: string | string[] | undefined, name: string): string | undefined => {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return all.find((c) => c.startsWith(`${name}=`))?.split(';')[0];
};

/** A value of any JSON shape, small enough to keep each request cheap. */
const anyJson = fc.jsonValue({ maxDepth: 4 });

/** A correct value with one field replaced by anything: the inputs that get furthest. */
function mutated(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(valid),
    fc.tuple(fc.constantFrom(...Object.keys(valid)), anyJson).map(([k, v]) => ({ ...valid, [k]: v })),
    fc.tuple(fc.constantFrom(...Object.keys(valid)), fc.string({ maxLength: 3000, unit: 'binary' })).map(([k, v]) => ({ ...valid, [k]: v })),
    anyJson,
  );
}

describe('generated bodies at every route that takes JSON from a node or an endpoint', () => {
  it('no 5xx, no exit, and the console pages that render what was taken still answer', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'leaf', upstream: 'hub' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const hub = await startNode(c.topology, 'hub', c.secrets);
    await release(hq.address.url, c.dir, 'tool', { size: 1024 });
    await waitFor('the hub at the primary', () => Boolean((hq.status() as unknown as { children: { hub?: unknown } }).children.hub));
    const url = hq.address.url;
    const validStatus = { ...(hub.status() as unknown as Record<string, unknown>) };
    delete validStatus.children;
    const validSummary = { clients: 1, packages: { 'tool@1': { succeeded: 1 } }, failures: [], withheld: [] };
    const push = (entries: fc.Arbitrary<unknown>) =>
      fc.record({ node: fc.constantFrom('hub', 'hub', 'hub', 'leaf'), epoch: fc.string({ minLength: 1, maxLength: 8 }), seq: fc.nat(), base: fc.constant(null), entries: fc.dictionary(fc.constantFrom('hub', 'leaf'), fc.record({ parent: fc.constantFrom(null, 'hub'), value: entries })), removed: fc.constant([]), stale: fc.array(fc.constantFrom('hub', 'leaf'), { maxLength: 2 }) });
    const validReport = { clientId: 'pc-1', package: 'tool@1', status: 'succeeded', at: new Date().toISOString() };

    // Whatever a route took, what renders it must still answer: checked right after each input.
    const tree = ['/ui/tree', '/v1/status'];
    const reports = ['/v1/reports'];
    const routes: { name: string; path: string; token: string; body: fc.Arbitrary<unknown>; renders?: string[] }[] = [
      { name: 'status push', path: '/v1/status', token: PEER_TOKEN, body: fc.oneof(push(mutated(validStatus)), anyJson), renders: tree },
      { name: 'report rollup push', path: '/v1/reports/rollup', token: PEER_TOKEN, body: fc.oneof(push(mutated(validSummary)), anyJson), renders: reports },
      { name: 'endpoint reports', path: '/v1/reports', token: ENDPOINT_TOKEN, body: fc.oneof(fc.record({ reports: fc.array(mutated(validReport), { minLength: 1, maxLength: 20 }) }), anyJson), renders: reports },
      { name: 'report import', path: '/v1/reports/import', token: ADMIN_TOKEN, renders: reports, body: fc.oneof(fc.record({ format: fc.constant(1), node: fc.constantFrom('hub', 'leaf', 'hq'), exportedAt: fc.constant(new Date().toISOString()), sites: fc.dictionary(fc.constantFrom('hub', 'leaf'), mutated(validSummary)) }), anyJson) },
      { name: 'blob batch', path: '/v1/blobs/batch', token: PEER_TOKEN, body: fc.oneof(fc.record({ sha256: fc.array(fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string()), { maxLength: 80 }) }), anyJson) },
      { name: 'import', path: '/v1/import', token: ADMIN_TOKEN, body: fc.oneof(fc.record({ dir: fc.oneof(fc.constantFrom('/', '/proc/self', '/dev', '/nonexistent'), fc.string()), maxAgeSeconds: fc.oneof(fc.integer(), anyJson) }, { requiredKeys: ['dir'] }), anyJson) },
    ];

    const heapBefore = process.memoryUsage().heapUsed;
    const served: Record<string, Map<number, number>> = {};
    for (const route of routes) {
      const codes = (served[route.name] = new Map());
      await fc.assert(
        fc.asyncProperty(route.body, async (body) => {
          const res = await request(`${url}${route.path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${route.token}` }, body: JSON.stringify(body) });
          const text = await res.body.text();
          codes.set(res.statusCode, (codes.get(res.statusCode) ?? 0) + 1);
          assert.ok(res.statusCode < 500, `${route.name} answered ${res.statusCode} to ${JSON.stringify(body).slice(0, 300)}: ${text.slice(0, 300)}`);
          if (res.statusCode !== 200) return;
          for (const page of route.renders ?? []) {
            const shown = await request(`${url}${page}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
            const bytes = (await shown.body.text()).length;
            assert.equal(shown.statusCode, 200, `${page} after ${route.name} took ${JSON.stringify(body).slice(0, 300)}`);
            assert.ok(bytes < 4 * 2 ** 20, `${page} is ${bytes} bytes after ${route.name}`);
          }
        }),
        { numRuns: RUNS },
      );
    }
    // Pace: the rate is a query parameter.
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.nat().map(String), fc.double().map(String)), async (rate) => {
        const res = await request(`${url}/v1/pace?rate=${encodeURIComponent(rate)}`, { headers: { authorization: `Bearer ${PEER_TOKEN}`, 'x-sluice-node': 'hub' } });
        await res.body.dump();
        assert.ok(res.statusCode < 500, `pace ${rate}: ${res.statusCode}`);
      }),
      { numRuns: RUNS },
    );

    // Some of each were taken: the property reached past the schema, not only into it.
    assert.ok(served['status push']!.get(200) || served['status push']!.get(409), JSON.stringify([...served['status push']!]));

    // What was taken renders: the pages, the status, the reports, and the live tree.
    const form = await request(`${url}/ui/sign-in`);
    const formCookie = cookieOf(form.headers['set-cookie'], 'sluice_sign_in')!;
    const formToken = /name="_csrf" value="([^"]+)"/.exec(await form.body.text())![1]!;
    const signIn = await request(`${url}/ui/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie }, body: new URLSearchParams({ _csrf: formToken, token: ADMIN_TOKEN, next: '/ui/tree' }).toString() });
    await signIn.body.dump();
    const session = cookieOf(signIn.headers['set-cookie'], 'sluice_session')!;
    for (const page of ['/ui/tree', '/ui/compliance', '/ui/packages', '/ui/compliance.csv', '/v1/status', '/v1/reports']) {
      const res = await request(`${url}${page}`, { headers: { cookie: session, authorization: `Bearer ${ADMIN_TOKEN}` } });
      await res.body.dump();
      assert.equal(res.statusCode, 200, page);
    }
    const controller = new AbortController();
    const live = await request(`${url}/ui/events?topics=tree,reports`, { headers: { cookie: session }, signal: controller.signal });
    let frames = '';
    live.body.on('data', (d: Buffer) => (frames += d.toString())).on('error', () => undefined);
    await waitFor('a live tree frame', () => frames.includes('event: tree'), 10_000);
    controller.abort();
    const ready = await request(`${url}/readyz`);
    assert.equal(ready.statusCode, 200);
    await ready.body.dump();
    const grown = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    assert.ok(grown < 128, `heap grew ${grown.toFixed(1)} MiB over ${RUNS * routes.length} generated requests`);
  });
});
