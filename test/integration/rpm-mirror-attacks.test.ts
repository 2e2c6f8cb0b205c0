import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { gunzipSync } from 'node:zlib';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { FixtureRpmRepo, rpmToolsMissing, type BuiltRpm } from '../helpers/rpm-repo.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { metric } from '../helpers/replication.js';

const skip = rpmToolsMissing();

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A listing of primary.xml as a mirror writes it: the NEVRA it claims, the file it points at. */
interface Listing {
  readonly name: string;
  readonly epoch?: string;
  readonly ver: string;
  readonly rel: string;
  readonly arch: string;
  readonly file: BuiltRpm;
}

/**
 * A hostile mirror's repodata, written by hand (createrepo_c would read the NEVRA from each
 * header): an unsigned repomd.xml and a plain primary.xml naming each file by its true sha256
 * and size, under whatever name and version the mirror chooses. Red Hat, Rocky and Fedora sign
 * no repomd.xml, so this is all a mirror (or its path) needs.
 */
function mirrorRepodata(repo: FixtureRpmRepo, listings: readonly Listing[]): void {
  const dir = path.join(repo.dir, 'repodata');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const packages = listings.map(
    (l) =>
      `<package type="rpm"><name>${l.name}</name><arch>${l.arch}</arch><version epoch="${l.epoch ?? '0'}" ver="${l.ver}" rel="${l.rel}"/>` +
      `<checksum type="sha256" pkgid="YES">${l.file.sha256}</checksum><size package="${l.file.bytes.length}" installed="0" archive="0"/>` +
      `<location href="${l.file.href}"/><format><rpm:sourcerpm>${l.name}-${l.ver}-${l.rel}.src.rpm</rpm:sourcerpm></format></package>`,
  );
  const primary = `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="${listings.length}">\n${packages.join('\n')}\n</metadata>\n`;
  writeFileSync(path.join(dir, 'primary.xml'), primary);
  const now = Math.floor(Date.now() / 1000);
  writeFileSync(
    path.join(dir, 'repomd.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>${now}</revision>` +
      `<data type="primary"><checksum type="sha256">${sha256(primary)}</checksum><location href="repodata/primary.xml"/><timestamp>${now}</timestamp><size>${Buffer.byteLength(primary)}</size></data></repomd>\n`,
  );
}

async function primaryWithFeed(repo: FixtureRpmRepo) {
  const c = await makeCluster([{ name: 'hq' }], ['rings: [pilot, broad]', 'feeds:', `  vendor: { type: rpm, url: "${repo.url}", architectures: [x86_64], keyring: "${repo.keyringPath}" }`].join('\n'));
  const hq = await startNode(c.topology, 'hq', c.secrets);
  const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
  return { hq, cli };
}

describe('a hostile RPM mirror, at the primary', { skip }, () => {
  it('a vendor-signed .rpm listed under another name or version (an old openssl as the new one) is refused: the approved id is what the ring gets, or nothing', async () => {
    const repo = new FixtureRpmRepo();
    await repo.listen();
    // Both genuinely signed by the vendor: the mirror cannot forge a signature, only relabel.
    const old = repo.addPackage({ name: 'openssl', version: '1.0-1' });
    const other = repo.addPackage({ name: 'telnet-server', version: '0.17-1' });
    const honest = repo.addPackage({ name: 'hello', version: '1.0-1' });
    mirrorRepodata(repo, [
      // The fix a security team waits for, pointing at the old vulnerable build.
      { name: 'openssl', ver: '3.0.7', rel: '28', arch: 'x86_64', file: old },
      // Another package altogether under a name the approver trusts.
      { name: 'nginx', ver: '1.24', rel: '1', arch: 'x86_64', file: other },
      { name: 'hello', ver: '1.0', rel: '1', arch: 'x86_64', file: honest },
    ]);
    const { hq, cli } = await primaryWithFeed(repo);
    const synced = await cli('feeds', 'sync', 'vendor', '--json');
    assert.equal(synced.code, 0, synced.stderr);
    await waitFor('the listings catalogued', () => hq.catalog.state.get('openssl@3.0.7-28') && hq.catalog.state.get('nginx@1.24-1') && hq.catalog.state.get('hello@1.0-1'));

    for (const id of ['openssl@3.0.7-28', 'nginx@1.24-1', 'hello@1.0-1']) {
      const r = await cli('approve', id, '--ring', 'pilot');
      assert.equal(r.code, 0, r.stderr);
    }
    // The honest listing is fetched and stored: the refusal below is about the relabelling.
    await waitFor('the honest package stored', () => hq.store.has(honest.sha256), 30_000);
    await waitFor('both relabelled files refused', async () => (await metric(hq, 'sluice_feed_packages_refused_total{feed="vendor",code="FEED_PACKAGE_SIGNATURE"}')) >= 2, 30_000);
    assert.equal(hq.store.has(old.sha256), false, 'openssl 1.0-1 never stored as openssl@3.0.7-28');
    assert.equal(hq.store.has(other.sha256), false, 'telnet-server never stored as nginx');

    const status = (await (await request(`${hq.address.url}/v1/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { transfers: { packages?: string[]; lastError: { code: string; message: string } | null }[] };
    const messages = status.transfers.map((t) => t.lastError?.message ?? '').join('\n');
    assert.match(messages, /openssl-1\.0-1\.x86_64.*openssl@3\.0\.7-28|openssl@3\.0\.7-28.*openssl-1\.0-1\.x86_64/);
    assert.match(messages, /telnet-server-0\.17-1\.x86_64/);
  });

  it('a restore (PUT /v1/blobs) is no way around the check: a publisher putting back a refused unsigned .rpm is refused, and it is not stored', async () => {
    const repo = new FixtureRpmRepo();
    await repo.listen();
    const unsigned = repo.addPackage({ name: 'hello', version: '1.0-1', unsigned: true });
    repo.publish({ unsignedMetadata: true });
    const { hq, cli } = await primaryWithFeed(repo);
    const synced = await cli('feeds', 'sync', 'vendor', '--json');
    assert.equal(synced.code, 0, synced.stderr);
    await waitFor('catalogued', () => hq.catalog.state.get(unsigned.id));
    assert.equal((await cli('approve', unsigned.id, '--ring', 'pilot')).code, 0);
    await waitFor('the unsigned package refused', async () => (await metric(hq, 'sluice_feed_packages_refused_total{feed="vendor",code="FEED_PACKAGE_SIGNATURE"}')) >= 1, 30_000);
    assert.equal(hq.store.has(unsigned.sha256), false);

    const made = await request(`${hq.address.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'pub', role: 'publisher' }) });
    assert.equal(made.statusCode, 201);
    const publisher = ((await made.body.json()) as { token: string }).token;
    const put = await request(`${hq.address.url}/v1/blobs/${unsigned.sha256}`, { method: 'PUT', headers: { authorization: `Bearer ${publisher}`, 'content-type': 'application/octet-stream' }, body: unsigned.bytes });
    const answer = (await put.body.json()) as { restored?: boolean; error?: { code: string; message: string } };
    assert.equal(put.statusCode, 502, JSON.stringify(answer));
    assert.equal(answer.error?.code, 'FEED_PACKAGE_SIGNATURE');
    assert.match(answer.error!.message, /no header signature/);
    assert.equal(hq.store.has(unsigned.sha256), false, 'not stored: no ring can list it');
  });

  it("one feed's mirror cannot widen another vendor's advisory: its updateinfo.xml names only its own feed's packages, and an advisory id two feeds list is approved per feed", async () => {
    const vendor = new FixtureRpmRepo();
    const mirror = new FixtureRpmRepo();
    await vendor.listen();
    await mirror.listen();
    const fix = vendor.addPackage({ name: 'fix', version: '1.0-1' });
    const untouched = vendor.addPackage({ name: 'untouched', version: '2.0-1' });
    vendor.publish({ advisories: [{ id: 'VND-2024:0001', severity: 'Critical', packages: [fix] }] });
    // The other feed's mirror reuses the vendor's advisory id, naming a package of its own and
    // one of the vendor's that the vendor's advisory does not name.
    const own = mirror.addPackage({ name: 'extra', version: '1.0-1' });
    // It also rewrites the advisory's words: not a security fix, nothing urgent.
    mirror.publish({ unsignedMetadata: true, advisories: [{ id: 'VND-2024:0001', type: 'enhancement', severity: 'Low', title: 'Cosmetic changes', packages: [own, untouched] }] });
    const keys = tempDir('sluice-rpmkey-');
    await generateRingKeys(keys, ['all', 'pilot', 'broad']);
    const c = await makeCluster(
      [{ name: 'hq' }],
      ['rings: [pilot, broad]', 'feeds:', `  vendor: { type: rpm, url: "${vendor.url}", architectures: [x86_64], keyring: "${vendor.keyringPath}" }`, `  other: { type: rpm, url: "${mirror.url}", architectures: [x86_64], keyring: "${mirror.keyringPath}" }`].join('\n'),
    );
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    for (const feed of ['vendor', 'other']) {
      const r = await cli('feeds', 'sync', feed, '--json');
      assert.equal(r.code, 0, r.stderr);
    }
    await waitFor('catalogued', () => hq.catalog.state.get(fix.id) && hq.catalog.state.get(untouched.id) && hq.catalog.state.get(own.id));
    const approve = async (body: Record<string, unknown>) => {
      const res = await request(`${hq.address.url}/v1/approvals`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.statusCode, json: (await res.body.json()) as { wouldApprove?: string[]; approved?: string[]; error?: { code: string; message: string } } };
    };
    // Without a feed, an id two feeds list is refused, as a source two feeds claim is.
    const mixed = await approve({ advisory: 'VND-2024:0001', ring: 'pilot', dryRun: true });
    assert.equal(mixed.status, 400, JSON.stringify(mixed.json));
    assert.match(mixed.json.error!.message, /VND-2024:0001 is listed by feeds (other and vendor|vendor and other)/);
    // The vendor's advisory is what the vendor named: not the other feed's package, nor the one of its own the other feed added.
    const vendors = await approve({ advisory: 'VND-2024:0001', feed: 'vendor', ring: 'pilot', dryRun: true });
    assert.equal(vendors.status, 200, JSON.stringify(vendors.json));
    assert.deepEqual(vendors.json.wouldApprove, [fix.id]);
    const others = await approve({ advisory: 'VND-2024:0001', feed: 'other', ring: 'pilot', dryRun: true });
    assert.deepEqual(others.json.wouldApprove, [own.id]);
    assert.equal(hq.catalog.state.stateOf(hq.catalog.state.get(fix.id)!), 'new', 'dry runs changed nothing');

    // The ring's updateinfo.xml (signed with the ring's key) carries the vendor's words for the vendor's package.
    assert.equal((await approve({ advisory: 'VND-2024:0001', feed: 'vendor', ring: 'pilot' })).status, 200);
    const updateinfo = await waitFor(
      "pilot's dnf repository with the advisory",
      async () => {
        const repomd = await request(`${hq.address.url}/rpm/pilot/vendor/repodata/repomd.xml`);
        if (repomd.statusCode !== 200) return void (await repomd.body.dump());
        const href = /<data type="updateinfo">[\s\S]*?<location href="([^"]+)"/.exec(await repomd.body.text())?.[1];
        if (!href) return undefined;
        const file = await request(`${hq.address.url}/rpm/pilot/vendor/${href}`);
        return gunzipSync(Buffer.from(await file.body.arrayBuffer())).toString();
      },
      30_000,
    );
    assert.match(updateinfo, /<update [^>]*type="security"/);
    assert.match(updateinfo, /<severity>Critical<\/severity>/);
    assert.doesNotMatch(updateinfo, /Cosmetic changes|Low|enhancement/);
    assert.match(updateinfo, /<package name="fix"/);
    assert.doesNotMatch(updateinfo, /name="(extra|untouched)"/);
  });

  it('a file already held, listed again under another id, is not listed in a ring as that id: the ring gets the package it approved, or nothing', async () => {
    const repo = new FixtureRpmRepo();
    await repo.listen();
    const hello = repo.addPackage({ name: 'hello', version: '1.0-1' });
    const world = repo.addPackage({ name: 'world', version: '1.0-1' });
    mirrorRepodata(repo, [
      { name: 'hello', ver: '1.0', rel: '1', arch: 'x86_64', file: hello },
      { name: 'world', ver: '1.0', rel: '1', arch: 'x86_64', file: world },
    ]);
    const keys = tempDir('sluice-rpmkey-');
    await generateRingKeys(keys, ['all', 'pilot', 'broad']);
    const c = await makeCluster([{ name: 'hq' }], ['rings: [pilot, broad]', 'feeds:', `  vendor: { type: rpm, url: "${repo.url}", architectures: [x86_64], keyring: "${repo.keyringPath}" }`].join('\n'));
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    assert.equal((await cli('feeds', 'sync', 'vendor', '--json')).code, 0);
    await waitFor('catalogued', () => hq.catalog.state.get('hello@1.0-1'));
    assert.equal((await cli('approve', 'hello@1.0-1', '--ring', 'pilot')).code, 0);
    await waitFor('hello held, checked as itself', () => hq.store.has(hello.sha256), 30_000);

    // The mirror lists the held file again, as the security fix an approver waits for.
    mirrorRepodata(repo, [
      { name: 'hello', ver: '1.0', rel: '1', arch: 'x86_64', file: hello },
      { name: 'world', ver: '1.0', rel: '1', arch: 'x86_64', file: world },
      { name: 'openssl', ver: '3.0.7', rel: '28', arch: 'x86_64', file: hello },
    ]);
    const synced = await cli('feeds', 'sync', 'vendor', '--json');
    assert.equal(synced.code, 0, synced.stderr);
    await waitFor('the relabelled listing catalogued', () => hq.catalog.state.get('openssl@3.0.7-28'));
    for (const id of ['openssl@3.0.7-28', 'world@1.0-1']) assert.equal((await cli('approve', id, '--ring', 'broad')).code, 0);

    const primaryXml = async (ring: string): Promise<string | undefined> => {
      const repomd = await request(`${hq.address.url}/rpm/${ring}/vendor/repodata/repomd.xml`);
      if (repomd.statusCode !== 200) return void (await repomd.body.dump());
      const href = /<data type="primary">[\s\S]*?<location href="([^"]+)"/.exec(await repomd.body.text())?.[1];
      if (!href) return undefined;
      return gunzipSync(Buffer.from(await (await request(`${hq.address.url}/rpm/${ring}/vendor/${href}`)).body.arrayBuffer())).toString();
    };
    const broad = await waitFor("broad's repository with world", async () => ((await primaryXml('broad'))?.includes('<name>world</name>') ? primaryXml('broad') : undefined), 30_000);
    assert.doesNotMatch(broad, /<name>hello<\/name>/, 'broad approved openssl@3.0.7-28, not hello');
    assert.ok((await metric(hq, 'sluice_feed_packages_refused_total{feed="vendor",code="FEED_PACKAGE_SIGNATURE"}')) >= 1, 'the refusal counted');
    // Pilot, which approved hello as itself, still lists it.
    assert.match((await primaryXml('pilot')) ?? '', /<name>hello<\/name>/);
  });

  it("a vendor key withdrawn from the feed's keyring (after a compromise): the packages it signed that the primary holds are listed no more", async () => {
    const repo = new FixtureRpmRepo();
    const rotated = new FixtureRpmRepo();
    await repo.listen();
    const hello = repo.addPackage({ name: 'hello', version: '1.0-1' });
    repo.publish();
    const keyring = path.join(tempDir('sluice-keyring-'), 'RPM-GPG-KEY-vendor');
    writeFileSync(keyring, repo.armoredKey);
    const keys = tempDir('sluice-rpmkey-');
    await generateRingKeys(keys, ['all', 'pilot', 'broad']);
    const c = await makeCluster([{ name: 'hq' }], ['rings: [pilot, broad]', 'feeds:', `  vendor: { type: rpm, url: "${repo.url}", architectures: [x86_64], keyring: "${keyring}" }`].join('\n'));
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    const cli = (...args: string[]) => runCli([...args, '-t', c.file], { env: c.env, timeoutMs: 60_000 });
    assert.equal((await cli('feeds', 'sync', 'vendor', '--json')).code, 0);
    await waitFor('catalogued', () => hq.catalog.state.get(hello.id));
    assert.equal((await cli('approve', hello.id, '--ring', 'pilot')).code, 0);
    const primaryXml = async (node: { address: { url: string } }): Promise<string | undefined> => {
      const repomd = await request(`${node.address.url}/rpm/pilot/vendor/repodata/repomd.xml`);
      if (repomd.statusCode !== 200) return void (await repomd.body.dump());
      const href = /<data type="primary">[\s\S]*?<location href="([^"]+)"/.exec(await repomd.body.text())?.[1];
      if (!href) return undefined;
      return gunzipSync(Buffer.from(await (await request(`${node.address.url}/rpm/pilot/vendor/${href}`)).body.arrayBuffer())).toString();
    };
    await waitFor('pilot lists hello', async () => (await primaryXml(hq))?.includes('<name>hello</name>'), 30_000);

    // The vendor's key leaks; the keyring now holds its new key only. The primary restarts on the same data.
    await hq.close();
    writeFileSync(keyring, rotated.armoredKey);
    const again = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    await waitFor('pilot lists hello no more', async () => {
      const xml = await primaryXml(again);
      return xml !== undefined && !xml.includes('<name>hello</name>') && xml.includes('packages="0"');
    }, 30_000);
    assert.ok((await metric(again, 'sluice_feed_packages_refused_total{feed="vendor",code="FEED_PACKAGE_SIGNATURE"}')) >= 1);
  });
});

