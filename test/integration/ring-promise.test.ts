import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { request } from 'undici';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { adminPost, publish, writeFile } from '../helpers/publish.js';

const RINGS = ['r1', 'r2', 'r3'] as const;
/** Rings whose machines the property watches: the three, and machines of no ring (`all`). */
const WATCHED = [...RINGS, 'all'] as const;
/** Generated runs: bounded, so the file stays within seconds. */
const RUNS = 16;

describe('a ring is a promise: no act scoped to some rings changes what another ring receives', { skip: aptToolsMissing() }, () => {
  it('generated approve / withdraw / decline / publish-successor acts by approvers of random scopes: every ring outside the scope keeps its /v1/updates and its APT index', async () => {
    const vendor = new FixtureAptRepo();
    await vendor.listen();
    for (const v of ['1.0-1', '1.1-1', '1.2-1']) vendor.addPackage({ name: 'hello', version: v });
    for (const v of ['1.0', '2.0']) vendor.addPackage({ name: 'tool', version: v, arch: 'all' });
    vendor.addPackage({ name: 'sentinel', version: '1' });
    vendor.publish();
    const c = await makeCluster([{ name: 'hq' }], ['rings: [r1, r2, r3, probe]', 'feeds:', `  vendor: { type: apt, url: "${vendor.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${vendor.keyringPath}" }`].join('\n'), undefined, { trust: 'aptIndexTtl: 7d' });
    const keys = tempDir('sluice-aptkeys-');
    await generateRingKeys(keys, ['all', ...RINGS, 'probe']);
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    const base = hq.address.url;
    assert.equal((await adminPost(base, '/v1/feeds/vendor/sync', {})).status, 200);
    const feedIds = ['hello@1.0-1', 'hello@1.1-1', 'hello@1.2-1', 'tool@1.0', 'tool@2.0'];
    // Some starting approvals, so withdrawing and superseding have something to act on.
    for (const [id, ring] of [['hello@1.0-1', 'all'], ['hello@1.1-1', 'r1'], ['tool@1.0', 'r2'], ['tool@1.0', 'r3']] as const) assert.equal((await adminPost(base, `/v1/packages/${id}/approve`, { ring })).status, 200);

    // An approver for every non-empty set of rings, and a publisher (scoped to no ring at all).
    const subsets = [1, 2, 3, 4, 5, 6, 7].map((bits) => RINGS.filter((_, i) => bits & (1 << i)));
    const tokens = new Map<string, string>();
    for (const s of subsets) {
      const r = await adminPost(base, '/v1/tokens', { name: `appr-${s.join('-')}`, role: 'approver', rings: s });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      tokens.set(s.join(','), r.json.token);
    }
    const publisher = (await adminPost(base, '/v1/tokens', { name: 'pub', role: 'publisher' })).json.token as string;

    const updatesOf = async (ring: string) => {
      const res = await request(`${base}/v1/updates?ring=${ring}`);
      assert.equal(res.statusCode, 200);
      const body = (await res.body.json()) as { updates: { id: string; approvedAt: string }[] };
      return body.updates.map((u) => `${u.id} ${u.approvedAt}`).sort().join('\n');
    };
    const snapshot = async () => Object.fromEntries(await Promise.all(WATCHED.map(async (r) => [r, await updatesOf(r)] as const)));
    /** Each ring's newest index record: a ring whose content did not change is not re-signed (the ttl is 7 days). */
    const indexSeqs = () => Object.fromEntries(WATCHED.map((r) => [r, hq.catalog.state.aptIndexesOf(r)[0]?.seq ?? 0]));
    // The publisher builds every ring in turn, each round from the catalog as it is then: once
    // the probe ring's index shows a first toggle of its sentinel and then a second, the round
    // that showed the second began after the first, so every ring's index was built from a
    // catalog holding everything before the first.
    let sentinel = false;
    const toggle = async () => {
      sentinel = !sentinel;
      const r = sentinel ? await adminPost(base, '/v1/packages/sentinel@1/approve', { ring: 'probe' }) : await adminPost(base, '/v1/packages/sentinel@1/decline', { ring: 'probe' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      await waitFor('the probe ring\'s index', async () => {
        const res = await request(`${base}/apt/probe/dists/stable/main/binary-amd64/Packages`);
        const text = res.statusCode === 200 ? await res.body.text() : (await res.body.dump(), undefined);
        return text !== undefined && text.includes('Package: sentinel') === sentinel;
      }, 60_000);
    };
    const settle = async () => {
      await toggle();
      await toggle();
    };
    await settle();

    let successors = 0;
    const act = fc.record({
      kind: fc.constantFrom('approve', 'withdraw', 'decline', 'publish-successor'),
      pkg: fc.constantFrom(...feedIds),
      ring: fc.constantFrom(...RINGS, 'all'),
    });
    let acted = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(subsets.length - 1), fc.array(act, { minLength: 1, maxLength: 4 }), async (who, acts) => {
        const scope: readonly string[] = subsets[who]!;
        const outside = WATCHED.filter((r) => !scope.includes(r));
        const indexBefore = indexSeqs();
        for (const a of acts) {
          const before = await snapshot();
          const seqBefore = hq.catalog.seq;
          let res: { status: number; json: any };
          if (a.kind === 'publish-successor') {
            const name = a.pkg.slice(0, a.pkg.indexOf('@'));
            const tip = [...hq.catalog.state.all()].find((p) => p.name === name && !p.supersededBy)!;
            const f = writeFile(c.dir, `succ-${++successors}.bin`, randomBytes(64));
            res = await publish(base, { name, version: `9.${successors}`, supersedes: tip.id }, [f], publisher);
          } else if (a.kind === 'approve') res = await adminPost(base, `/v1/packages/${a.pkg}/approve`, { ring: a.ring }, tokens.get(scope.join(','))!);
          else if (a.kind === 'withdraw') res = await adminPost(base, `/v1/packages/${a.pkg}/decline`, { ring: a.ring }, tokens.get(scope.join(','))!);
          else res = await adminPost(base, `/v1/packages/${a.pkg}/decline`, {}, tokens.get(scope.join(','))!);
          assert.ok(res.status < 500, `${a.kind} ${a.pkg} ${a.ring}: ${res.status} ${JSON.stringify(res.json)}`);
          if (res.status >= 400) assert.equal(hq.catalog.seq, seqBefore, `a refused ${a.kind} (${res.json.error?.code}) changed nothing`);
          else acted++;
          const after = await snapshot();
          for (const r of outside) assert.equal(after[r], before[r], `${a.kind} ${a.pkg} for ${a.ring} by an approver of [${scope.join(',')}] changed what ${r} receives`);
        }
        await settle();
        const indexAfter = indexSeqs();
        for (const r of outside) assert.equal(indexAfter[r], indexBefore[r], `ring ${r}'s APT index was re-signed after acts scoped to [${scope.join(',')}]`);
      }),
      { numRuns: RUNS, seed: 4242 },
    );
    assert.ok(acted >= RUNS / 2, `enough acts were allowed to test something (${acted})`);
  });
});
