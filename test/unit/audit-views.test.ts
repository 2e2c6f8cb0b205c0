import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditEntry } from '../../src/audit/audit-log.js';
import { fairNewest } from '../../src/audit/fair-newest.js';
import { CALLERS_TRACKED, REFUSALS_WRITTEN_PER_CALLER, REFUSALS_WRITTEN_PER_WINDOW, REFUSAL_WINDOW_MS, RefusedActs, type RefusedAct } from '../../src/audit/refused-acts.js';
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

describe('refused acts are counted past a few per caller', () => {
  const act = (who: string, source = '10.0.0.1'): RefusedAct => ({ who, role: 'auditor', via: 'token', source, act: 'verify', outcome: 'FORBIDDEN_ROLE' });

  it('writes the first few of a caller, counts the rest, and summarizes them when the window ends', () => {
    const summaries: (RefusedAct & { target: string })[] = [];
    const r = new RefusedActs((s) => summaries.push(s));
    const t0 = Date.now();
    const admitted = Array.from({ length: 50 }, (_, i) => r.admit(act('aud'), t0 + i)).filter(Boolean).length;
    assert.equal(admitted, REFUSALS_WRITTEN_PER_CALLER);
    assert.equal(r.admit({ ...act('aud'), act: 'publish' }, t0 + 60), false);
    assert.equal(r.admit(act('someone-else'), t0 + 61), true, 'another caller is not held back');
    assert.equal(summaries.length, 0);
    // The next refusal after the window: the summary first, then this one is written.
    assert.equal(r.admit(act('aud'), t0 + REFUSAL_WINDOW_MS + 1), true);
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0]!.who, 'aud');
    assert.equal(summaries[0]!.act, 'several');
    assert.match(summaries[0]!.target, /^46 more refusals by aud within 60 s of \S+: verify FORBIDDEN_ROLE ×45, publish FORBIDDEN_ROLE ×1$/);
    r.flush();
  });

  it('keeps bounded memory and a bounded number of entries whatever the number of callers', () => {
    const summaries: unknown[] = [];
    const r = new RefusedActs((s) => summaries.push(s));
    const t0 = Date.now();
    let written = 0;
    for (let caller = 0; caller < 5000; caller++) for (let i = 0; i < 3; i++) if (r.admit(act('-', `10.${caller >> 8}.${caller & 255}.1`), t0)) written++;
    assert.equal(written, REFUSALS_WRITTEN_PER_WINDOW);
    r.flush();
    assert.ok(summaries.length <= CALLERS_TRACKED + 1, `${summaries.length} summaries`);
    assert.equal((summaries as { target: string }[]).reduce((n, s) => n + Number(/^(\d+) more/.exec(s.target)![1]), 0), 5000 * 3 - written, 'every refusal is written or counted');
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
