import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCommand } from '../helpers/cli.js';
import { REPO_ROOT, tempDir } from '../helpers/env.js';

describe('deploy/README.md, followed step by step (deploy/rehearse.sh)', () => {
  it('the artefact bundles every runtime dependency (it installs without a registry)', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bundleDependencies: string[] };
    assert.deepEqual([...pkg.bundleDependencies].sort(), Object.keys(pkg.dependencies).sort());
  });

  it('the packaged artefact installs offline; three sites over mutual TLS replicate; an endpoint installs and reports; the units verify', async () => {
    const out = tempDir();
    // The artefact "npm run package" builds, from the dist/ this test run already built.
    const pack = await runCommand('npm', ['pack', '--ignore-scripts', '--pack-destination', out], { cwd: REPO_ROOT, timeoutMs: 120_000 });
    assert.equal(pack.code, 0, pack.stderr);
    const tarball = readdirSync(out).find((f) => f.endsWith('.tgz'))!;
    // Its own TMPDIR: whatever the rehearsal leaves in a temporary directory shows there.
    const scratch = tempDir();
    const r = await runCommand('bash', [path.join(REPO_ROOT, 'deploy/rehearse.sh'), path.join(out, tarball), tempDir()], { timeoutMs: 240_000, env: { TMPDIR: scratch } });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /REHEARSAL PASSED/);
    assert.match(r.stdout, /tool@1\.0 +lyon +1 +1 .* 100%/);
    assert.match(r.stdout, /root version 2 in force at lyon; hq signs with catalog-2 alone/);
    assert.match(r.stdout, /recovered: the tree carried on, lyon refused nothing/);
    // Everything it made lives under the ROOT it was given: nothing left in the temporary directory.
    assert.deepEqual(readdirSync(scratch), []);
  });
});
