import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finishTime, forecastPackages } from '../../src/schedule/forecast.js';
import { parseTopology } from '../../src/topology/load.js';

const t = parseTopology(
  `version: 1
primary: hq
trust: { catalogKey: k.pub }
regions:
  office:
    timezone: Europe/Paris
    schedule: [ { days: [mon, tue, wed, thu, fri], from: "08:00", to: "19:00", rate: 1MB/s } ]
  closed: { timezone: UTC, schedule: [ { rate: paused } ] }
nodes:
  hq: { url: "http://127.0.0.1:1", region: office }
`,
  '/t/topology.yaml',
);
const office = t.regions.get('office')!;
const closed = t.regions.get('closed')!;
const H = 3_600_000;

describe('forecast from schedules', () => {
  it('bytes that do not fit in tonight\'s window continue in the next one', () => {
    // Monday 18:00 Paris (17:00 UTC, CET): one hour left today, 7.2 GB needs two.
    const done = finishTime(office.schedule, office.timezone, new Date('2026-11-23T17:00:00Z'), 7.2e9);
    assert.equal(done!.toISOString(), '2026-11-24T08:00:00.000Z', 'Tuesday 09:00 Paris');
    const friday = finishTime(office.schedule, office.timezone, new Date('2026-11-27T17:30:00Z'), 3.6e9);
    assert.equal(friday!.toISOString(), '2026-11-30T07:30:00.000Z', 'Friday evening → Monday 08:30 Paris');
  });

  it('never, when the schedule never opens', () => {
    assert.equal(finishTime(closed.schedule, closed.timezone, new Date('2026-11-23T00:00:00Z'), 1), undefined);
  });

  it('most urgent first; late when the expected arrival passes the severity deadline; critical bypass is immediate', () => {
    const now = new Date('2026-11-23T17:00:00Z');
    const f = forecastPackages(
      [
        { id: 'low@1', severity: 'low', approvedAtMs: now.getTime() - H, bytes: 3.6e9 },
        { id: 'imp@1', severity: 'important', approvedAtMs: now.getTime() - 29.99 * 24 * H, bytes: 3.6e9 },
        { id: 'crit@1', severity: 'critical', approvedAtMs: now.getTime(), bytes: 50e9 },
      ],
      { schedule: office.schedule, timezone: office.timezone, critical: { kind: 'bypass' } },
      t.deadlinesMs,
      now,
    );
    assert.deepEqual(f.map((p) => p.id), ['crit@1', 'imp@1', 'low@1']);
    assert.equal(f[0]!.eta, now.toISOString());
    assert.equal(f[0]!.late, false);
    assert.equal(f[1]!.eta, '2026-11-23T18:00:00.000Z', 'first in the normal lane: within tonight\'s hour');
    assert.equal(f[1]!.late, true, 'its 30-day deadline ends before then');
    assert.equal(f[2]!.eta, '2026-11-24T08:00:00.000Z', 'after the important one, next morning');
    assert.equal(f[2]!.late, false);
  });
});

describe('forecast cost', () => {
  it('many pending packages under a restrictive schedule are forecast in one pass over the windows', () => {
    const now = new Date('2026-11-23T17:00:00Z');
    const pending = Array.from({ length: 500 }, (_, i) => ({ id: `p${i}@1`, severity: 'low' as const, approvedAtMs: now.getTime() - i, bytes: 1e9 }));
    const started = process.cpuUsage();
    const f = forecastPackages(pending, { schedule: office.schedule, timezone: office.timezone, critical: { kind: 'schedule' } }, t.deadlinesMs, now);
    const cpuMs = (process.cpuUsage(started).user + process.cpuUsage(started).system) / 1000;
    // 500 GB at 1 MB/s is ~139 hours of transfer; 11 office hours per weekday: ~2.5 weeks.
    assert.equal(f.length, 500);
    const lastDays = (Date.parse(f[499]!.eta!) - now.getTime()) / 86_400_000;
    assert.ok(lastDays > 14 && lastDays < 25, `last package after ${lastDays.toFixed(1)} days`);
    assert.ok(Date.parse(f[10]!.eta!) > Date.parse(f[9]!.eta!), 'later packages arrive later');
    assert.ok(cpuMs < 5000, `took ${cpuMs.toFixed(0)} ms of CPU`);
  });
});
