import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEntry } from '../../src/audit/audit-log.js';
import { fairNewest } from '../../src/audit/fair-newest.js';
import { escapeUnprintable, escapeUnprintableJson, isPrintable } from '../../src/domain/printable.js';

const entry = (seq: number, at: string): AuditEntry => ({ seq, at, who: 'w', role: null, via: null, source: '-', act: 'a', target: null, outcome: 'ok' });
const minute = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();

describe('the tree view shares its newest entries fairly between nodes', () => {
  it('a node with many newer entries cannot push another node\'s out', () => {
    const busy = Array.from({ length: 100 }, (_, i) => entry(i + 1, minute(30 + (i % 20))));
    const quiet = [entry(1, minute(1)), entry(2, minute(2))];
    const view = fairNewest({ busy, quiet }, 10);
    assert.equal(view.length, 10);
    assert.deepEqual(view.filter((e) => e.node === 'quiet').map((e) => e.seq), [1, 2]);
    assert.deepEqual(view.map((e) => e.at), [...view.map((e) => e.at)].sort(), 'oldest first');
    // With room for everything, everything; each entry keeps its node.
    assert.equal(fairNewest({ busy, quiet }, 1000).length, 102);
    assert.deepEqual(fairNewest({}, 10), []);
  });
});

describe('printable text', () => {
  it('escapes what a terminal acts on, and keeps names in any script', () => {
    assert.ok(isPrintable('Zoë Müller 张伟 ok@1.2'));
    for (const bad of ['a\rb', 'a\nb', '\x1b[2K', '\x9b2K', 'a\u202eb', 'a\u2028b', '\ud800', '\x7f']) assert.ok(!isPrintable(bad), JSON.stringify(bad));
    assert.equal(escapeUnprintable('a\r\x1b[2Kb\u202e'), 'a\\u000d\\u001b[2Kb\\u202e');
    const json = JSON.stringify({ who: '\x1b\x9b\u202e' }, null, 2);
    const escaped = escapeUnprintableJson(json);
    assert.deepEqual(JSON.parse(escaped), JSON.parse(json), 'still the same JSON');
    assert.ok(!/[\x7f-\x9f\u202e]/.test(escaped));
  });
});
