import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, parseClock, parseDuration, parseRate } from '../../src/topology/units.js';

describe('value syntaxes of topology.yaml', () => {
  it('rates: SI and IEC byte units, bit units, unlimited and paused', () => {
    const cases: [string, number | undefined][] = [
      ['1B/s', 1], ['1KB/s', 1000], ['1MB/s', 1e6], ['2GB/s', 2e9], ['1KiB/s', 1024], ['1MiB/s', 1048576], ['1GiB/s', 1073741824],
      ['8Kbit/s', 1000], ['4Mbit/s', 500_000], ['1Gbit/s', 125e6], ['1.5MB/s', 1.5e6], ['unlimited', Infinity], ['paused', 0],
      ['4Mbps', undefined], ['0MB/s', undefined], ['-1MB/s', undefined], ['MB/s', undefined], ['1 mb/s', undefined], ['', undefined],
    ];
    for (const [text, want] of cases) assert.equal(parseRate(text), want, text);
  });

  it('durations: whole numbers with ms, s, m, h, d', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('10m'), 600_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('30d'), 30 * 86_400_000);
    for (const bad of ['10', '1.5h', '10 m', 'ten minutes', '-1s', '1w']) assert.equal(parseDuration(bad), undefined, bad);
  });

  it('clock times: HH:MM, 24:00 as the end of a day', () => {
    assert.equal(parseClock('00:00'), 0);
    assert.equal(parseClock('08:30'), 510);
    assert.equal(parseClock('24:00'), 1440);
    for (const bad of ['8:00', '24:01', '25:00', '12:60', '1200', '']) assert.equal(parseClock(bad), undefined, bad);
  });

  it('byte formatting for humans', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB');
  });
});
