import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generateKeyPair, readPrivateKey, readPublicKey } from '../../src/catalog/keys.js';
import { encodeKey, keyIdOf, signRoot, type RootBody } from '../../src/catalog/root.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/env.js';
import { adminPost } from '../helpers/publish.js';
import { converged, holdsExactly, metric, release } from '../helpers/replication.js';

const inBytes = async (node: Parameters<typeof metric>[0], peer: string) => {
  const v = await metric(node, `sluice_transfer_bytes_total{direction="in",peer="${peer}"}`);
  return Number.isNaN(v) ? 0 : v;
};

describe('a root of trust that survives a lost key', () => {
  it('rotating the online key while three tiers replicate moves no blob again; every tier follows; heads signed by the revoked key are then rejected at every tier', async () => {
    // hub reaches hq, and branch reaches hub, through proxies that can re-sign with a stolen key.
    const c = await makeCluster([{ name: 'hq', proxied: true }, { name: 'hub', upstream: 'hq', proxied: true }, { name: 'branch', upstream: 'hub' }]);
    const keys = path.join(c.dir, 'keys');
    const oldKey = { privatePath: path.join(keys, 'catalog.key'), publicPath: path.join(keys, 'catalog.pub') };
    const rootKey = generateKeyPair(keys, { name: 'root-1' });
    const newKey = generateKeyPair(keys, { name: 'catalog-2' });
    const env = { ...c.env, SLUICE_SIGNING_KEY: `${oldKey.privatePath},${newKey.privatePath}` };
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, signingKeyPath: `${oldKey.privatePath},${newKey.privatePath}` });
    const hub = await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets);
    const base = `http://127.0.0.1:${c.ports[0]}`;
    const before = await release(base, c.dir, 'before-rotation', { size: 1024 * 1024 });
    await converged(branch, hq.catalog.seq);
    const bytes = { hub: await inBytes(hub, 'hq'), branch: await inBytes(branch, 'hub') };

    // Root version 2: an offline root key, the new online key; signed by version 1's root key
    // (the old catalog key) and by its own.
    const next = path.join(c.dir, 'root-2.json');
    const made = await runCli(['root', 'new', '--root-key', rootKey.publicPath, '--catalog-key', newKey.publicPath, '--out', next, '-t', c.file], { env });
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await runCli(['root', 'sign', next, '--key', oldKey.privatePath, rootKey.privatePath], { env })).code, 0);
    const applied = await runCli(['root', 'apply', next, '-t', c.file], { env });
    assert.equal(applied.code, 0, applied.stderr);
    for (const n of [hq, hub, branch]) await waitFor(`${n.spec.name} to follow root 2`, async () => (await metric(n, 'sluice_catalog_root_version')) === 2);

    const after = await release(base, c.dir, 'after-rotation', { size: 512 * 1024 });
    await converged(branch, hq.catalog.seq);
    assert.ok(holdsExactly(branch, before.content) && holdsExactly(branch, after.content), 'stores and history kept');
    assert.equal((await inBytes(hub, 'hq')) - bytes.hub, after.content.length, 'the hub fetched only the new package');
    assert.equal((await inBytes(branch, 'hub')) - bytes.branch, after.content.length, 'the branch fetched only the new package');

    // The old key is revoked: a head it signs is refused by the hub and by the branch.
    const stolen = readPrivateKey(oldKey.privatePath, 'test');
    for (const proxy of [c.proxies.get('hq')!, c.proxies.get('hub')!]) {
      proxy.resignKey = stolen;
      proxy.catalogFault = 'resign';
    }
    const seq = branch.catalog.seq;
    const rejected = { hub: await metric(hub, 'sluice_catalog_rejected_total{reason="signature"}'), branch: await metric(branch, 'sluice_catalog_rejected_total{reason="signature"}') };
    await release(base, c.dir, 'while-forged');
    await waitFor('both tiers to refuse heads signed by the revoked key', async () => (await metric(hub, 'sluice_catalog_rejected_total{reason="signature"}')) > rejected.hub && (await metric(branch, 'sluice_catalog_rejected_total{reason="signature"}')) > rejected.branch);
    assert.equal(branch.catalog.seq, seq, 'nothing applied below the forgery');
    for (const p of c.proxies.values()) p.catalogFault = 'none';
    await converged(branch, hq.catalog.seq);
  });

  it('a root that skips a version, is signed only by its new keys, has expired, has no expiry, asks for more than one catalog signature or lists a non-Ed25519 key is refused with the rule it broke', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const hq = await startNode(c.topology, 'hq', c.secrets);
    const keys = path.join(c.dir, 'keys');
    const v1 = { priv: readPrivateKey(path.join(keys, 'catalog.key'), 't'), pub: readPublicKey(path.join(keys, 'catalog.pub'), 't') };
    const r = generateKeyPair(keys, { name: 'root-x' });
    const rk = { priv: readPrivateKey(r.privatePath, 't'), pub: readPublicKey(r.publicPath, 't') };
    const body = (version: number, expires: string): RootBody => ({
      type: 'sluice-root',
      version,
      expires,
      keys: { [keyIdOf(rk.pub)]: encodeKey(rk.pub), [keyIdOf(v1.pub)]: encodeKey(v1.pub) },
      roles: { root: { keyids: [keyIdOf(rk.pub)], threshold: 1 }, catalog: { keyids: [keyIdOf(v1.pub)], threshold: 1 } },
    });
    const later = new Date(Date.now() + 86_400_000).toISOString();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const both = (b: RootBody) => signRoot(signRoot(b, v1.priv, v1.pub), rk.priv, rk.pub);
    const cases: [unknown, RegExp][] = [
      [both(body(3, later)), /skips version 2/],
      [signRoot(body(2, later), rk.priv, rk.pub), /signed by 0 of the 1 keys root version 1 requires/],
      [signRoot(body(2, later), v1.priv, v1.pub), /signed by 0 of its own 1 root keys/],
      [both(body(2, new Date(Date.now() - 1000).toISOString())), /expired at/],
      // One signature per head: a catalog threshold of 2 would promise what nobody checks.
      [both({ ...body(2, later), roles: { root: { keyids: [keyIdOf(rk.pub)], threshold: 1 }, catalog: { keyids: [keyIdOf(v1.pub), keyIdOf(rk.pub)], threshold: 2 } } }), /catalog threshold must be 1/],
      [both({ ...body(2, later), expires: null }), /has no expiry/],
      [both({ ...body(2, later), keys: { ...body(2, later).keys, [keyIdOf(ec)]: encodeKey(ec) }, roles: { root: { keyids: [keyIdOf(rk.pub)], threshold: 1 }, catalog: { keyids: [keyIdOf(v1.pub), keyIdOf(ec)], threshold: 1 } } }), /not Ed25519/],
    ];
    for (const [doc, rule] of cases) {
      const res = await adminPost(hq.address.url, '/v1/root', doc);
      assert.equal(res.status, 502);
      assert.equal(res.json.error.code, 'CATALOG_ROOT_INVALID');
      assert.match(res.json.error.message, rule);
    }
    assert.equal(hq.catalog.root.version, 1, 'nothing changed');
    const ok = await adminPost(hq.address.url, '/v1/root', both(body(2, later)));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(hq.catalog.root.version, 2);
  });
});

describe('a catalog no hub can freeze', () => {
  it('a hub replaying its last head and timestamp is noticed within one timestamp lifetime; the branch fails over and says why', async () => {
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq', proxied: true }, { name: 'branch', upstream: 'hub', extra: 'fallback: [hq]' }], '', undefined, { trust: 'timestampTtl: 3s' });
    const hq = await startNode(c.topology, 'hq', c.secrets);
    await startNode(c.topology, 'hub', c.secrets);
    const branch = await startNode(c.topology, 'branch', c.secrets, { probeMs: 60_000 });
    await release(hq.address.url, c.dir, 'fresh');
    await converged(branch, hq.catalog.seq);
    assert.ok((await metric(branch, 'sluice_catalog_timestamp_age_seconds')) < 3);
    const proxy = c.proxies.get('hub')!;
    proxy.catalogFault = 'freeze';
    const frozenAt = Date.now();
    await waitFor('a stale rejection', async () => (await metric(branch, 'sluice_catalog_rejected_total{reason="stale"}')) >= 1, 15_000);
    // One lifetime (3 s), plus the second of slack the follower allows itself.
    assert.ok(Date.now() - frozenAt < 3000 + 1500 + 2000, `noticed after ${Date.now() - frozenAt} ms`);
    const s = await waitFor('failover to hq', () => {
      const st = branch.status() as { upstream: { current: string }; lastError: { code: string; message: string } | null };
      return st.upstream.current === 'hq' ? st : undefined;
    }, 15_000);
    assert.ok(proxy.count('catalog:freeze') >= 1);
    assert.equal(s.lastError?.code, 'CATALOG_STALE');
    assert.match(s.lastError!.message, /replaying an old catalog/);
    const late = await release(hq.address.url, c.dir, 'after-freeze');
    await waitFor('the branch to follow hq directly', () => holdsExactly(branch, late.content));
    await waitFor('a fresh timestamp again', async () => (await metric(branch, 'sluice_catalog_timestamp_age_seconds')) < 3);
  });
});

describe('keys on disk', () => {
  it('a signing key readable by other users is refused at start, naming the fix', async () => {
    const c = await makeCluster([{ name: 'hq' }]);
    const key = c.secrets.signingKeyPath;
    chmodSync(key, 0o644);
    const r = await runCli(['serve', '--node', 'hq', '-t', c.file], { env: c.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KEY_INVALID.*readable by other users \(mode 0644\).*chmod 600/);
  });
});
