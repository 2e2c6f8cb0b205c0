import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { CatalogLog } from '../../src/catalog/catalog-log.js';
import { CatalogState } from '../../src/catalog/catalog-state.js';
import { GENESIS_HASH, sealRecord, type RecordBody } from '../../src/catalog/records.js';
import { fingerprintOf } from '../../src/feeds/repository-key.js';
import { RpmServing } from '../../src/http/rpm-serving.js';
import { freshStore } from '../helpers/store.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const primaryOf = (hrefs: string[]) => gzipSync(Buffer.from(`<?xml version="1.0"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" packages="${hrefs.length}">${hrefs.map((h) => `<package type="rpm"><name>x</name><location href="${h}"/></package>`).join('')}</metadata>`));

describe('a node serves a ring\'s dnf repository only once it holds it whole (rpm-serving.ts, real store)', () => {
  it('keeps the previous repomd.xml until every file and every listed package is here; old metadata stays reachable by name; the pool serves only what the ring\'s listed indexes name', async () => {
    const { store } = await freshStore();
    const state = new CatalogState();
    let prev = GENESIS_HASH;
    let seq = 0;
    const append = (b: RecordBody) => {
      const r = sealRecord(b, ++seq, prev);
      prev = r.hash;
      state.apply(r);
    };
    const put = async (bytes: Buffer) => {
      const s = await store.stage(Readable.from([bytes]));
      await store.commit([s]);
      return s.sha256;
    };
    const rpm = Buffer.from('an rpm package, by its bytes');
    const other = Buffer.from('a package only broad lists');
    const pool = `pool/${sha(rpm)}/hello-1.1-1.x86_64.rpm`;
    const file = (path: string, bytes: Buffer) => ({ path, size: bytes.length, sha256: sha(bytes), bytes });
    const index = (ring: string, primary: Buffer, revision: string) => ({
      ring,
      files: [file('repodata/repomd.xml', Buffer.from(`<repomd><revision>${revision}</revision></repomd>`)), file('repodata/repomd.xml.asc', Buffer.from(`signature ${revision}`)), file(`repodata/${sha(primary)}-primary.xml.gz`, primary)],
    });
    const record = (i: ReturnType<typeof index>): RecordBody => ({ type: 'rpm-index', ring: i.ring, repo: 'el9-os', by: 'rpm', at: new Date().toISOString(), files: i.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })) });
    const first = index('pilot', primaryOf([]), '1');
    const second = index('pilot', primaryOf([pool]), '2');
    const broad = index('broad', primaryOf([`pool/${sha(other)}/other-1-1.x86_64.rpm`]), '3');
    for (const i of [first, second, broad]) append(record(i));
    for (const i of [first, second, broad]) for (const f of i.files) await put(f.bytes);
    await put(other);
    const serving = new RpmServing({ state } as CatalogLog, store, fingerprintOf);
    const repomd = async () => (await serving.resolve('pilot', 'el9-os/repodata/repomd.xml'))?.sha256;

    // The newest index lists a package this node does not hold yet: the previous one is served.
    assert.equal(await repomd(), first.files[0]!.sha256);
    assert.equal(await serving.resolve('pilot', `el9-os/${pool}`), undefined, 'not held: no answer');
    // Both indexes' metadata stay reachable by name (a client that read either repomd.xml).
    for (const i of [first, second]) assert.ok(await serving.resolve('pilot', `el9-os/${i.files[2]!.path}`));
    await put(rpm);
    assert.equal(await repomd(), second.files[0]!.sha256, 'switched once it holds every package');
    assert.equal((await serving.resolve('pilot', 'el9-os/repodata/repomd.xml.asc'))?.sha256, second.files[1]!.sha256);
    assert.equal((await serving.resolve('pilot', `el9-os/${pool}`))?.sha256, sha(rpm));
    // Another ring's package, another repository, any other blob: not served under pilot.
    assert.equal(await serving.resolve('pilot', `el9-os/pool/${sha(other)}/other-1-1.x86_64.rpm`), undefined);
    assert.ok(await serving.resolve('broad', `el9-os/pool/${sha(other)}/other-1-1.x86_64.rpm`));
    assert.equal(await serving.resolve('pilot', `el9-extras/${pool}`), undefined);
    assert.equal(await serving.resolve('pilot', `el9-os/pool/${sha(first.files[0]!.bytes)}/repomd.xml`), undefined);
    assert.equal(await serving.resolve('pilot', 'el9-os/repodata/../../x'), undefined);
  });
});
