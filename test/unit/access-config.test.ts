import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { SluiceError } from '../../src/errors.js';
import { parseTopology } from '../../src/topology/load.js';
import { REPO_ROOT } from '../helpers/env.js';

const sample = readFileSync(path.join(REPO_ROOT, 'topology.yaml'), 'utf8');

it('access: people and groups map to roles; a scoped role without its scope, or an unknown role, is an error at its line', () => {
  const good = parseTopology(`${sample}\naccess:\n  signIn: { issuer: "https://login.example.com/it", clientId: sluice }\n  people: { alice@example.com: { role: admin } }\n  groups: { asia-it: { role: approver, rings: [asia-pilot, "emea-*"] }, auditors: { role: auditor, regions: ["*"] } }\n`, '/abs/t.yaml', 't.yaml');
  assert.equal(good.access.signIn?.groupsClaim, 'groups');
  assert.equal(good.access.signIn?.nameClaim, 'email');
  assert.deepEqual(good.access.groups.get('asia-it'), { role: 'approver', scope: { rings: ['asia-pilot', 'emea-*'] } });
  assert.equal(good.access.people.get('alice@example.com')?.role, 'admin');
  assert.equal(parseTopology(sample, '/abs/t.yaml', 't.yaml').access.signIn, undefined);

  const lines = sample.split('\n').length;
  const bad = `${sample}\naccess:\n  groups:\n    asia-it: { role: approver }\n    audit: { role: boss }\n`;
  assert.throws(
    () => parseTopology(bad, '/abs/t.yaml', 't.yaml'),
    (err: SluiceError) => {
      assert.equal(err.code, 'TOPOLOGY_INVALID');
      const text = [err.message, ...(err.details ?? [])].join('\n');
      assert.match(text, new RegExp(`t\\.yaml:${lines + 3}:\\d+ access\\.groups\\.asia-it\\.rings: an approver needs rings`));
      assert.match(text, new RegExp(`t\\.yaml:${lines + 4}:\\d+ access\\.groups\\.audit\\.role: expected one of admin, publisher, approver, operator, auditor`));
      return true;
    },
  );
});
