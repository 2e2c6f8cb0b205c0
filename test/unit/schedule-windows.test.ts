import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activeWindow, localTime, nextChange, rateAt } from '../../src/schedule/windows.js';
import { parseTopology } from '../../src/topology/load.js';

/** Two regions' schedules, parsed from YAML exactly as users write them. */
const topology = parseTopology(
  `version: 1
primary: hq
trust: { catalogKey: k.pub }
regions:
  europe:
    timezone: Europe/Paris
    schedule:
      - { days: [mon, tue, wed, thu, fri], from: "08:00", to: "19:00", rate: 4Mbit/s }
      - { days: [fri], from: "22:00", to: "06:00", rate: 100MB/s }
      - { rate: 10MB/s }
  americas:
    timezone: America/New_York
    schedule:
      - { from: "22:00", to: "06:00", rate: unlimited }
      - { days: [sat, sun], rate: paused }
      - { rate: 2MB/s }
nodes:
  hq: { url: "http://127.0.0.1:1", region: europe }
`,
  '/t/topology.yaml',
);
const eu = topology.regions.get('europe')!;
const us = topology.regions.get('americas')!;
const at = (iso: string) => new Date(iso);

describe('schedule windows in the region\'s own timezone (injected instants)', () => {
  it('local time follows the timezone, including DST', () => {
    assert.deepEqual(localTime(at('2026-01-15T12:00:00Z'), 'Europe/Paris'), { weekday: 4, minutes: 13 * 60 }); // CET, UTC+1
    assert.deepEqual(localTime(at('2026-07-15T12:00:00Z'), 'Europe/Paris'), { weekday: 3, minutes: 14 * 60 }); // CEST, UTC+2
    assert.deepEqual(localTime(at('2026-07-15T03:00:00Z'), 'America/New_York'), { weekday: 2, minutes: 23 * 60 }); // previous local day
  });

  it('weekday rule: business hours on a Wednesday, not on a Saturday', () => {
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-25T09:00:00Z')), 500_000); // Wed 10:00 Paris
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-28T09:00:00Z')), 10e6); // Sat 10:00 Paris: the catch-all
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-25T18:00:00Z')), 10e6, '19:00 is the end, exclusive');
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-25T17:59:00Z')), 500_000);
  });

  it('a window crossing midnight belongs to the day it starts: Fri 22:00 → Sat 06:00', () => {
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-27T21:30:00Z')), 100e6, 'Fri 22:30 Paris');
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-28T04:00:00Z')), 100e6, 'Sat 05:00 Paris: still Friday\'s window');
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-28T05:00:00Z')), 10e6, 'Sat 06:00: over');
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-11-27T04:00:00Z')), 10e6, 'Fri 05:00 Paris: Thursday night has no such window');
  });

  it('the first matching window wins; paused at weekends outside the night window', () => {
    assert.equal(rateAt(us.schedule, us.timezone, at('2026-11-28T04:00:00Z')), Infinity, 'Fri 23:00 New York: night window first');
    assert.equal(rateAt(us.schedule, us.timezone, at('2026-11-28T17:00:00Z')), 0, 'Sat 12:00 New York: paused');
    assert.equal(rateAt(us.schedule, us.timezone, at('2026-11-30T17:00:00Z')), 2e6, 'Mon 12:00');
    assert.equal(activeWindow(us.schedule, us.timezone, at('2026-11-30T17:00:00Z'))!.index, 2);
  });

  it('DST: the same UTC instant falls in or out of business hours across the change', () => {
    // 06:30 UTC is 08:30 in Paris in summer (inside 08:00-19:00) but 07:30 in winter (outside).
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-10-23T06:30:00Z')), 500_000, 'Fri before the change (CEST)');
    assert.equal(rateAt(eu.schedule, eu.timezone, at('2026-10-26T06:30:00Z')), 10e6, 'Mon after the change (CET)');
    // New York springs forward on 2026-03-08: local 22:00 is 03:00 UTC before, 02:00 UTC after.
    assert.equal(rateAt(us.schedule, us.timezone, at('2026-03-07T02:30:00Z')), 2e6, 'Fri 21:30 EST');
    assert.equal(rateAt(us.schedule, us.timezone, at('2026-03-10T02:30:00Z')), Infinity, 'Mon 22:30 EDT');
  });

  it('next change: the exact minute the active window ends, across midnight and timezones', () => {
    assert.equal(nextChange(eu.schedule, eu.timezone, at('2026-11-25T09:00:30Z'))!.toISOString(), '2026-11-25T18:00:00.000Z');
    assert.equal(nextChange(eu.schedule, eu.timezone, at('2026-11-27T22:00:00Z'))!.toISOString(), '2026-11-28T05:00:00.000Z');
    assert.equal(nextChange(us.schedule, us.timezone, at('2026-11-28T12:00:00Z'))!.toISOString(), '2026-11-29T03:00:00.000Z', 'Sat paused → Sat 22:00 New York');
  });
});

describe('the worked example in docs/replication.md', () => {
  it('gives the rates the document states', async () => {
    const { readFileSync } = await import('node:fs');
    const { REPO_ROOT } = await import('../helpers/env.js');
    const readme = readFileSync(`${REPO_ROOT}/docs/replication.md`, 'utf8');
    const block = /\*\*Worked example: two regions, two timezones\.\*\*\n\n```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
    const t = parseTopology(`version: 1\nprimary: hq\ntrust: { catalogKey: k.pub }\n${block}nodes:\n  hq: { url: "http://127.0.0.1:1", region: europe }\n`, '/t/topology.yaml');
    const eu = t.regions.get('europe')!;
    const am = t.regions.get('americas')!;
    const wed = at('2026-12-02T15:00:00Z');
    assert.equal(rateAt(eu.schedule, eu.timezone, wed), 500_000);
    assert.equal(rateAt(am.schedule, am.timezone, wed), 2e6);
    const sat = at('2026-12-05T03:30:00Z');
    assert.equal(rateAt(eu.schedule, eu.timezone, sat), 50e6 / 8);
    assert.equal(rateAt(am.schedule, am.timezone, sat), Infinity);
    assert.deepEqual(eu.critical, { kind: 'bypass' });
    assert.deepEqual(am.critical, { kind: 'rate', rateBytesPerSec: 10e6, text: '10MB/s' });
  });
});
