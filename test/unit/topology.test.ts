import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SluiceError } from '../../src/errors.js';
import { loadTopology, parseTopology } from '../../src/topology/load.js';
import { renderTree } from '../../src/topology/tree.js';
import { REPO_ROOT } from '../helpers/env.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/topologies');

/** `# expect: PATH: MESSAGE [@ TOKEN]` lines at the top of a fixture. */
function expectations(text: string) {
  return [...text.matchAll(/^# expect: (.*)$/gm)].map((m) => {
    const [body, token] = m[1]!.split(' @ ');
    const sep = body!.indexOf(': ');
    return { path: body!.slice(0, sep), message: body!.slice(sep + 2), token };
  });
}

function errorsOf(file: string): string[] {
  try {
    loadTopology(file);
  } catch (err) {
    assert.ok(err instanceof SluiceError && err.code === 'TOPOLOGY_INVALID', String(err));
    return [...err.details];
  }
  return [];
}

describe('topology validation: every error is located (file:line:col, YAML path, what is expected)', () => {
  for (const name of readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml') && f !== 'valid-full.yaml')) {
    it(`${name} reports exactly its expected errors, each pointing at the offending text`, () => {
      const file = path.join(FIXTURES, name);
      const source = readFileSync(file, 'utf8').split('\n');
      const expected = expectations(source.join('\n'));
      const errors = errorsOf(file);
      assert.ok(expected.length > 0, 'fixture declares expectations');
      assert.equal(errors.length, expected.length, `errors were:\n${errors.join('\n')}`);
      for (const exp of expected) {
        const prefix = exp.path ? `${exp.path}: ` : '';
        const line = errors.find((e) => {
          const m = /^(.*):(\d+):(\d+) (.*)$/.exec(e);
          return m && m[1] === file && m[4]!.startsWith(prefix) && m[4]!.includes(exp.message);
        });
        assert.ok(line, `expected "${prefix}${exp.message}" among:\n${errors.join('\n')}`);
        if (exp.token) {
          const [, l, c] = /:(\d+):(\d+) /.exec(line.slice(file.length))!;
          const at = source[Number(l) - 1]!.slice(Number(c) - 1);
          assert.ok(at.startsWith(exp.token), `${line}\n  points at "${at}", expected "${exp.token}"`);
        }
      }
    });
  }

  it('a file with every optional setting loads, with defaults filled in and relative paths resolved', () => {
    const t = loadTopology(path.join(FIXTURES, 'valid-full.yaml'));
    assert.equal(t.primary, 'hq');
    assert.equal(t.trust.headTtlMs, 3 * 86_400_000);
    assert.equal(t.deadlinesMs.critical, 12 * 3_600_000);
    assert.equal(t.deadlinesMs.important, 30 * 86_400_000, 'unset deadlines take the default');
    assert.equal(t.trust.catalogKeyPath, path.join(FIXTURES, 'keys/catalog.pub'));
    const hq = t.nodes.get('hq')!;
    assert.deepEqual([hq.listenHost, hq.listenPort], ['::', 7400]);
    assert.equal(hq.egress.perChildBytesPerSec, 100e6 / 8);
    assert.equal(t.nodes.get('paris')!.dataDir, path.join(FIXTURES, 'data/paris'));
    assert.equal(t.nodes.get('lyon')!.dataDir, '/var/lib/sluice/lyon');
    assert.deepEqual(t.nodes.get('lyon')!.rings, ['pilot', 'broad']);
    assert.equal(t.nodes.get('lyon')!.schedule![0]!.rateBytesPerSec, 0);
    const eu = t.regions.get('eu')!;
    assert.equal(eu.schedule[0]!.rateBytesPerSec, 500_000);
    assert.deepEqual([...eu.schedule[0]!.days!], [1, 2, 3, 4, 5]);
    assert.deepEqual([eu.schedule[1]!.fromMin, eu.schedule[1]!.toMin], [22 * 60, 6 * 60]);
    assert.equal(t.regions.get('us')!.critical.kind, 'rate');
    assert.ok(Object.isFrozen(t) && Object.isFrozen(hq), 'the result is frozen');
  });

  it('a feed\'s maxAge is a duration, 7d when unset; anything else is an error at its line', () => {
    const sample = readFileSync(path.join(REPO_ROOT, 'topology.yaml'), 'utf8');
    assert.equal(parseTopology(sample, '/abs/t.yaml', 't.yaml').feeds.get('demo')!.maxAgeMs, 36_500 * 86_400_000, 'the demo\'s fixed snapshot');
    assert.equal(parseTopology(sample.replace(/^ *maxAge: .*\n/m, ''), '/abs/t.yaml', 't.yaml').feeds.get('demo')!.maxAgeMs, 7 * 86_400_000);
    const line = sample.split('\n').findIndex((l) => /^ *maxAge:/.test(l)) + 1;
    assert.throws(
      () => parseTopology(sample.replace(/maxAge: \S+/, 'maxAge: a week'), '/abs/t.yaml', 't.yaml'),
      (err: SluiceError) => {
        assert.match([err.message, ...err.details].join('\n'), new RegExp(`t\\.yaml:${line}:\\d+ feeds\\.demo\\.maxAge: expected a whole number and a unit`));
        return true;
      },
    );
  });

  it('the shipped topology.yaml is valid: a primary and downstream nodes in two regions', () => {
    const t = loadTopology(path.join(REPO_ROOT, 'topology.yaml'));
    const downstream = [...t.nodes.values()].filter((n) => !n.isPrimary);
    assert.ok(downstream.length >= 2);
    assert.ok(new Set([...t.nodes.values()].map((n) => n.region)).size >= 2);
    const tree = renderTree(t);
    for (const n of t.nodes.keys()) assert.match(tree, new RegExp(`\\b${n}\\b`));
  });

  it('names the file as the user gave it in every message', () => {
    assert.throws(
      () => parseTopology('version: 1\nprimary: hq\n', '/abs/t.yaml', 'site/t.yaml'),
      (err: SluiceError) => err.details.every((d) => d.startsWith('site/t.yaml:')),
    );
  });

  it('a missing file is TOPOLOGY_NOT_FOUND and says how to point at one', () => {
    assert.throws(() => loadTopology('/nonexistent/topology.yaml'), (err: SluiceError) => err.code === 'TOPOLOGY_NOT_FOUND' && /-t FILE/.test(err.message));
  });
});
