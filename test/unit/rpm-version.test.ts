import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { compareRpmVersions, parseEvr } from '../../src/feeds/rpm-version.js';

/** Versions that exercise every rule of rpm's order: epochs, tilde, caret, leading zeros, letters against digits, separators. */
const VERSIONS = [
  '1.0', '1.0-1', '1.0-2', '1.0-10', '1.00', '1.0.0', '1.0a', '1.0.a', '1.0~rc1', '1.0~rc2', '1.0~~', '1.0^', '1.0^git1', '1.0^git1~pre', '1.0.1', '1.0_1',
  '0:1.0', '1:0.9', '2:0.1-1', '10:0', '1.0-1.el9', '1.0-1.el9_3', '1.0-1.fc40', '2.0-0.1.rc1', '2.0-1', 'a', 'b', '1', 'a1', '1a', '001', '1.01', '1.001',
  '5.2.15-2', '5.2.15-2+deb12u1', '3.0.7-27.el9', '3.0.7-27.el9_4', '1:3.0.7-27.el9', '0.9~beta', '0.9~beta.1', '0.9^20230101git', 'FC5', 'fc4', '2_0', '2.0.',
];

describe('RPM version order', () => {
  it('orders versions as the real rpm does (every pair, against rpm.vercmp)', (t) => {
    if (spawnSync('rpm', ['--version']).error) return t.skip('rpm is not installed (scripts/install-test-tools.sh installs it)');
    const pairs = VERSIONS.flatMap((a) => VERSIONS.map((b) => [a, b] as const));
    // One rpm process answers every pair: its Lua interpreter calls rpm's own comparison.
    const lua = pairs.map(([a, b]) => `print(rpm.vercmp("${a}","${b}")) print("\\n")`).join(' ');
    const out = spawnSync('rpm', ['--eval', `%{lua: ${lua}}`], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    assert.equal(out.status, 0, out.stderr);
    const theirs = out.stdout.trim().split(/\s+/).map(Number);
    assert.equal(theirs.length, pairs.length);
    const wrong = pairs.filter(([a, b], i) => Math.sign(compareRpmVersions(a, b)) !== Math.sign(theirs[i]!)).map(([a, b], i) => `${a} vs ${b}: ours ${compareRpmVersions(a, b)}, rpm ${theirs[i]}`);
    assert.deepEqual(wrong, []);
  });

  it('orders the rules without rpm too', () => {
    const lt = (a: string, b: string) => assert.equal(compareRpmVersions(a, b), -1, `${a} < ${b}`);
    lt('1.0~rc1', '1.0');
    lt('1.0', '1.0^git1');
    lt('1.0^git1', '1.0.1');
    lt('1.0-2', '1.0-10');
    lt('9:1.0', '10:0.1');
    lt('1:0.1', '2:0.0');
    lt('a', '1');
    lt('1.0', '1.0-5');
    assert.equal(compareRpmVersions('001', '1'), 0);
  });

  it('splits an EVR as rpm does', () => {
    assert.deepEqual(parseEvr('1:3.0.7-27.el9'), { epoch: '1', version: '3.0.7', release: '27.el9' });
    assert.deepEqual(parseEvr('3.0.7'), { epoch: '0', version: '3.0.7', release: undefined });
    assert.deepEqual(parseEvr('1.0-rc-2'), { epoch: '0', version: '1.0-rc', release: '2' });
  });
});
