import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { generateRingKeys } from '../../src/feeds/repository-key.js';
import { FixtureAptRepo, aptToolsMissing } from '../helpers/apt-repo.js';
import { makeCluster, startNode } from '../helpers/cluster.js';
import { tempDir, waitFor } from '../helpers/env.js';
import { adminPost } from '../helpers/publish.js';

/** The ring keys a publisher signs with, as this test reaches them on a real primary. */
interface KeysSeam {
  keyFor(ring: string): Promise<unknown>;
}

describe('the APT publisher misses no approval made while a round runs', { skip: aptToolsMissing() }, () => {
  it('an approval for a ring already built in the running round is published in the next round at once, not hours later', async () => {
    const vendor = new FixtureAptRepo();
    await vendor.listen();
    vendor.addPackage({ name: 'hello', version: '1.0-1' });
    vendor.addPackage({ name: 'sentinel', version: '1' });
    vendor.publish();
    const c = await makeCluster([{ name: 'hq' }], ['rings: [r1, r2]', 'feeds:', `  vendor: { type: apt, url: "${vendor.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${vendor.keyringPath}" }`].join('\n'));
    const keys = tempDir('sluice-aptkeys-');
    await generateRingKeys(keys, ['all', 'r1', 'r2']);
    const hq = await startNode(c.topology, 'hq', { ...c.secrets, aptKeyPath: keys });
    {
      const base = hq.address.url;
      const packagesOf = async (ring: string) => {
        const res = await request(`${base}/apt/${ring}/dists/stable/main/binary-amd64/Packages`);
        return res.statusCode === 200 ? res.body.text() : (await res.body.dump(), '');
      };
      assert.equal((await adminPost(base, '/v1/feeds/vendor/sync', {})).status, 200);
      // Both files held at head office and both rings published: no file arrives later to wake the publisher.
      assert.equal((await adminPost(base, '/v1/packages/hello@1.0-1/approve', { ring: 'r1' })).status, 200);
      assert.equal((await adminPost(base, '/v1/packages/sentinel@1/approve', { ring: 'r2' })).status, 200);
      await waitFor('both rings published', async () => (await packagesOf('r1')).includes('Package: hello') && (await packagesOf('r2')).includes('Package: sentinel'), 30_000);

      // Hold the next round at r2's key, after all and r1 are built.
      const seam = (hq as unknown as { primary: { aptPublisher: { d: { keys: KeysSeam } } } }).primary.aptPublisher.d.keys;
      const keyFor = seam.keyFor.bind(seam);
      let entered!: () => void;
      const inRound = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let held = false;
      seam.keyFor = async (ring: string) => {
        if (ring === 'r2' && !held) {
          held = true;
          entered();
          await gate;
        }
        return keyFor(ring);
      };
      assert.equal((await adminPost(base, '/v1/packages/hello@1.0-1/approve', { ring: 'r2' })).status, 200);
      await inRound;
      // r1 was built in this round already; its approval lands while the round runs.
      assert.equal((await adminPost(base, '/v1/packages/sentinel@1/approve', { ring: 'r1' })).status, 200);
      release();
      await waitFor('r2 published with hello', async () => (await packagesOf('r2')).includes('Package: hello'), 30_000);
      await waitFor('r1 published with sentinel (the approval made during the round)', async () => (await packagesOf('r1')).includes('Package: sentinel'), 20_000);
    }
  });
});
