import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { aptToolsMissing } from '../helpers/apt-repo.js';
import { runCommand } from '../helpers/cli.js';
import { REPO_ROOT, tempDir } from '../helpers/env.js';

/** What the rehearsal needs for the APT path; it leaves that path out (and says so) without them. */
const aptPathMissing = aptToolsMissing() ?? (spawnSync('sh', ['-c', 'command -v apt-get && command -v gpgconf']).status !== 0 ? 'apt-get or gpgconf is not installed' : undefined);

describe('deploy/README.md, followed step by step (deploy/rehearse.sh)', () => {
  it('the artefact bundles every runtime dependency (it installs without a registry)', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bundleDependencies: string[] };
    assert.deepEqual([...pkg.bundleDependencies].sort(), Object.keys(pkg.dependencies).sort());
  });

  it('the packaged artefact installs offline; three sites over mutual TLS replicate; an endpoint installs and reports; a vendor feed reaches an endpoint\'s stock apt, whose dpkg hook reports; the units verify', async () => {
    const out = tempDir();
    // The artefact "npm run package" builds, from the dist/ this test run already built.
    const pack = await runCommand('npm', ['pack', '--ignore-scripts', '--pack-destination', out], { cwd: REPO_ROOT, timeoutMs: 120_000 });
    assert.equal(pack.code, 0, pack.stderr);
    const tarball = readdirSync(out).find((f) => f.endsWith('.tgz'))!;
    // Its own TMPDIR: whatever the rehearsal leaves in a temporary directory shows there.
    const scratch = tempDir();
    // A bound for the whole rehearsal, far above its usual 1.5-2 minutes: each of its waits has
    // its own deadline and says which step failed; this one only stops a rehearsal that hangs.
    const r = await runCommand('bash', [path.join(REPO_ROOT, 'deploy/rehearse.sh'), path.join(out, tarball), tempDir()], { timeoutMs: 360_000, env: { TMPDIR: scratch } });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /REHEARSAL PASSED/);
    assert.match(r.stdout, /tool@1\.0 +lyon +1 +1 .* 100%/);
    assert.match(r.stdout, /root version 2 in force at lyon; hq signs with catalog-2 alone/);
    assert.match(r.stdout, /recovered: the tree carried on, lyon refused nothing/);
    // The APT path (deploy/README.md steps 2, 3 and 5), wherever the Debian tools are installed (CI installs them).
    if (aptPathMissing) {
      assert.match(r.stdout, /APT path not rehearsed: missing/);
    } else {
      assert.match(r.stdout, /the feed's keyring holds the vendor's key [0-9A-F]{40}, as sluice check lists it/);
      assert.match(r.stdout, /broad +[0-9A-F]{40} +created/, 'keygen --apt printed ring broad\'s fingerprint');
      assert.match(r.stdout, /Setting up hello \(1\.0-1\)/, 'dpkg installed the approved version');
      assert.match(r.stdout, /the apt endpoint installed hello 1\.0-1 from lyon; the dpkg hook reported it/);
      assert.match(r.stdout, /Unpacking hello \(1\.1-1\) over \(1\.0-1\)/, 'apt-get upgrade installed the fix');
      assert.match(r.stdout, /hello@1\.1-1 +lyon +2 +1 .* 50%/, 'the hook\'s report counts at lyon (the agent\'s endpoint has not installed it)');
      assert.match(r.stdout, /patch day with stock apt: hello 1\.1-1 approved for pilot then broad, upgraded at lyon's endpoint, reported/);
    }
    // Everything it made lives under the ROOT it was given: nothing left in the temporary directory.
    assert.deepEqual(readdirSync(scratch), []);
  });
});
