import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { ERROR_CATALOGUE } from '../../src/errors.js';
import { REPO_ROOT } from '../helpers/env.js';

it('docs/errors.md lists exactly the catalogue codes, with the same HTTP status and retry flag', () => {
  const text = readFileSync(path.join(REPO_ROOT, 'docs/errors.md'), 'utf8');
  const rows = [...text.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (yes|no) \| (.+) \| (.+) \|$/gm)];
  const documented = new Map(rows.map((m) => [m[1]!, { status: Number(m[2]), retryable: m[3] === 'yes', meaning: m[4]!, fix: m[5]! }]));
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CATALOGUE).sort());
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
    const doc = documented.get(code)!;
    assert.equal(doc.status, entry.status, `${code}: HTTP status`);
    assert.equal(doc.retryable, entry.retryable, `${code}: retry`);
    assert.ok(doc.meaning.trim().length > 10 && doc.fix.trim().length > 3, `${code}: meaning and fix are filled in`);
  }
});
