import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { it } from 'node:test';
import { substitute } from '../../src/agent/install-command.js';

it('placeholders are replaced in one pass: a signed name containing "{file}" stays one quoted word', () => {
  const files = ["/cache/ab/{file} $(touch pwned)'x.msi", '/cache/cd/two.bin'];
  const command = substitute('printf "%s\\n" {file} {files} {id} {dir}', files, { id: 'evil@{dir}', name: 'n', version: '1' });
  const out = execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8' }).split('\n');
  assert.deepEqual(out.slice(0, 5), [files[0], files[0], files[1], 'evil@{dir}', '/cache/ab']);
});
