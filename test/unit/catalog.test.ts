import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { canonicalJson } from '../../src/catalog/canonical-json.js';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { signHead, verifyHeadSignature } from '../../src/catalog/head.js';
import { GENESIS_HASH, hashRecord, parsePackageId, recordSchema, sealRecord, type CatalogRecord, type RecordBody } from '../../src/catalog/records.js';

const at = '2026-01-01T00:00:00.000Z';
const file = { name: 'a.bin', size: 3, sha256: 'a'.repeat(64) };

function chain(bodies: RecordBody[]): CatalogRecord[] {
  let prev = GENESIS_HASH;
  return bodies.map((b, i) => {
    const r = sealRecord(b, i + 1, prev);
    prev = r.hash;
    return r;
  });
}

describe('catalog records: hash chain', () => {
  it('canonical JSON does not depend on key order', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }], u: undefined }), '{"a":[{"c":3,"d":2}],"b":1}');
    assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  });

  it('each record links to the previous one and any change to a record changes its hash', () => {
    const records = chain([
      { type: 'publish', id: 'app@1.0', severity: 'low', files: [file], by: 'alice', at },
      { type: 'approve', id: 'app@1.0', ring: 'all', by: 'alice', at },
    ]);
    assert.equal(records[0]!.prev, GENESIS_HASH);
    assert.equal(records[1]!.prev, records[0]!.hash);
    for (const r of records) assert.equal(hashRecord(r), r.hash);
    const forged = { ...records[1]!, ring: 'pilot' } as CatalogRecord;
    assert.notEqual(hashRecord(forged), records[1]!.hash);
    for (const r of records) assert.ok(recordSchema.safeParse(r).success);
  });

  it('package ids are name@version with restricted characters', () => {
    assert.deepEqual(parsePackageId('openssl@3.0.13-1+deb12u1'), { name: 'openssl', version: '3.0.13-1+deb12u1' });
    assert.deepEqual(parsePackageId('@scope@1'), undefined);
    for (const bad of ['noversion', 'a@', '@1', 'a b@1', 'a@1 2', '../x@1', 'a@../1']) assert.equal(parsePackageId(bad), undefined, bad);
  });
});

describe('signed head', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const head = signHead(7, 'b'.repeat(64), new Date('2030-01-01T00:00:00Z'), privateKey);

  it('verifies against the pinned key only', () => {
    assert.ok(verifyHeadSignature(head, publicKey));
    assert.ok(!verifyHeadSignature(head, other.publicKey));
  });

  it('any change to seq, hash or expiry breaks the signature', () => {
    assert.ok(!verifyHeadSignature({ ...head, seq: 8 }, publicKey));
    assert.ok(!verifyHeadSignature({ ...head, hash: 'c'.repeat(64) }, publicKey));
    assert.ok(!verifyHeadSignature({ ...head, expires: '2031-01-01T00:00:00.000Z' }, publicKey));
    assert.ok(!verifyHeadSignature({ ...head, signature: 'AAAA' }, publicKey));
  });
});

describe('package states', () => {
  const bodies: RecordBody[] = [
    { type: 'publish', id: 'app@1', severity: 'important', files: [file], by: 'alice', at },
    { type: 'publish', id: 'app@2', severity: 'important', files: [file], by: 'alice', at },
    { type: 'supersede', id: 'app@1', supersededBy: 'app@2', by: 'alice', at },
  ];

  it('new → approved(rings) → declined → approved again', () => {
    const s = new CatalogState();
    for (const r of chain([bodies[0]!])) s.apply(r);
    const pkg = s.get('app@1')!;
    assert.equal(s.stateOf(pkg), 'new');
    s.apply(sealRecord({ type: 'approve', id: 'app@1', ring: 'pilot', by: 'bob', at }, 2, 'x'.repeat(64)));
    assert.equal(s.stateOf(pkg), 'approved');
    assert.deepEqual([...pkg.approvals.keys()], ['pilot']);
    assert.equal(pkg.approvals.get('pilot')!.by, 'bob');
    assert.ok(s.isWantedBy(pkg, ['pilot']));
    assert.ok(!s.isWantedBy(pkg, ['broad']), 'a pilot approval does not reach the broad ring');
    assert.ok(!s.isWantedBy(pkg, []), 'nor nodes in no ring');
    s.apply(sealRecord({ type: 'decline', id: 'app@1', by: 'carol', at }, 3, 'x'.repeat(64)));
    assert.equal(s.stateOf(pkg), 'declined');
    assert.equal(pkg.approvals.size, 0);
    assert.ok(!s.isWantedBy(pkg, ['pilot']));
    s.apply(sealRecord({ type: 'approve', id: 'app@1', ring: 'all', by: 'bob', at }, 4, 'x'.repeat(64)));
    assert.equal(s.stateOf(pkg), 'approved');
    assert.ok(s.isWantedBy(pkg, []), 'approval for all reaches every node');
  });

  it('a package is superseded only once its successor is approved', () => {
    const s = new CatalogState();
    const records = chain([...bodies, { type: 'approve', id: 'app@1', ring: 'all', by: 'a', at }]);
    for (const r of records) s.apply(r);
    assert.equal(s.stateOf(s.get('app@1')!), 'approved', 'successor not approved yet');
    s.apply(sealRecord({ type: 'approve', id: 'app@2', ring: 'all', by: 'a', at }, 5, records[3]!.hash));
    assert.equal(s.stateOf(s.get('app@1')!), 'superseded');
    assert.ok(!s.isWantedBy(s.get('app@1')!, []));
    assert.equal(s.get('app@2')!.supersedes, 'app@1');
  });
});
