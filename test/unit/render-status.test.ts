import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorText, rateText, renderStatus, type StatusJson } from '../../src/cli/render-status.js';
import { daysText } from '../../src/topology/load.js';
import { formatRateIn, rateFamilyOf } from '../../src/topology/units.js';

const now = Date.parse('2026-11-27T10:00:00Z');

function branch(over: Partial<StatusJson> = {}): StatusJson {
  return {
    node: 'paris', primary: false, region: 'europe', rings: ['europe'], version: '0.1.0', at: new Date(now).toISOString(), ready: true,
    upstream: { preferred: 'hq', current: 'hq', lastSyncAt: null, clockSkewSeconds: 0 },
    catalog: { seq: 5, headExpires: null }, store: { blobs: 1, bytes: 1e6 }, pending: { blobs: 1, bytes: 150e6 },
    transfers: [{ sha256: 'a'.repeat(64), packages: ['office@16'], severity: 'moderate', size: 300e6, offset: 150e6, state: 'active', rateBytesPerSec: 500_000, attempts: 0, peer: 'hq', lastError: null }],
    rate: { limitBytesPerSec: 500_000, unlimited: false, window: { index: 0, label: 'mon-fri 08:00-19:00 4Mbit/s', rate: '4Mbit/s' }, nextChangeAt: '2026-11-27T18:00:00.000Z' },
    forecast: { doneAt: new Date(Date.now() + 5 * 3600_000 + 30_000).toISOString(), pendingPackages: 1, late: [] },
    lastError: null, missing: [], lost: [], warnings: [], children: {},
    ...over,
  };
}

describe('sluice status speaks the topology\'s language', () => {
  it('rates in the unit family the schedule was written in; windows by their text', () => {
    assert.equal(formatRateIn(500_000, 'bits'), '4 Mbit/s');
    assert.equal(formatRateIn(2e6, 'decimal'), '2 MB/s');
    assert.equal(formatRateIn(1536 * 1024, 'binary'), '1.5 MiB/s');
    assert.equal(rateFamilyOf('4Mbit/s'), 'bits');
    assert.equal(rateFamilyOf('2MB/s'), 'decimal');
    assert.equal(rateFamilyOf('10MiB/s'), 'binary');
    const text = rateText(branch().rate!);
    assert.equal(text, '4Mbit/s (window mon-fri 08:00-19:00 4Mbit/s, until 2026-11-27 18:00Z)');
    assert.doesNotMatch(renderStatus(branch()), /KiB\/s|window 0/);
    assert.match(renderStatus(branch()), /active +office@16 .* 4 Mbit\/s/);
  });

  it('weekday lists read as written: runs as ranges', () => {
    assert.equal(daysText(['mon', 'tue', 'wed', 'thu', 'fri']), 'mon-fri');
    assert.equal(daysText(['sat', 'sun']), 'sat,sun');
    assert.equal(daysText(['mon', 'wed', 'thu', 'fri', 'sun']), 'mon,wed-fri,sun');
  });

  it('one ETA per line, each labelled: the node\'s follows the schedule, a transfer\'s the current rate', () => {
    const [nodeLine, transferLine] = renderStatus(branch()).split('\n');
    assert.match(nodeLine!, /eta \dh\d\dm with the schedule/);
    assert.match(transferLine!, /5m00s at this rate/);
    assert.doesNotMatch(transferLine!, /\beta\b/);
  });

  it('an error is shown while it holds, and once cleared only as when it was last seen', () => {
    const holding = { code: 'NOT_READY', message: 'hq is starting; retry shortly', at: '2026-11-27T09:59:00.000Z', since: '2026-11-27T09:58:00.000Z', source: 'catalog sync', clearedAt: null };
    assert.equal(errorText(holding), 'ERROR NOT_READY in catalog sync since 2026-11-27 09:58:00Z: hq is starting; retry shortly');
    const cleared = { ...holding, clearedAt: '2026-11-27T09:59:30.000Z' };
    assert.equal(errorText(cleared), 'last error NOT_READY seen 2026-11-27 09:59:00Z (catalog sync), cleared 2026-11-27 09:59:30Z');
    const out = renderStatus(branch({ pending: { blobs: 0, bytes: 0 }, transfers: [], forecast: { doneAt: null, pendingPackages: 0, late: [] }, lastError: cleared }));
    assert.match(out, /rings europe {2}nothing pending for its rings/);
    assert.doesNotMatch(out, /retry shortly|ERROR/);
  });
});

describe('sluice status: a transfer that retrying cannot help says so', () => {
  const waiting = (code: string, message: string) => branch({
    transfers: [{ sha256: 'b'.repeat(64), packages: ['hello-rpm@1.2-1.el9'], severity: 'moderate', size: 6215, offset: 0, state: 'waiting', rateBytesPerSec: 0, attempts: 1, peer: 'feed:el9', lastError: { code, message, at: new Date(now).toISOString() } }],
  });

  it('a refused vendor package shows its code and what to do, not "retrying"', () => {
    const text = renderStatus(waiting('FEED_PACKAGE_SIGNATURE', 'it carries no header signature; ask the vendor for a signed package, or decline it'));
    assert.doesNotMatch(text, /retrying: FEED_PACKAGE_SIGNATURE/);
    assert.match(text, /hello-rpm@1\.2-1\.el9 .* FEED_PACKAGE_SIGNATURE, retrying cannot help: it carries no header signature; ask the vendor for a signed package, or decline it/);
  });

  it('an error a retry may cure still reads "retrying"', () => {
    assert.match(renderStatus(waiting('BLOB_NOT_FOUND', 'the peer does not hold it')), /hello-rpm@1\.2-1\.el9 .* retrying: BLOB_NOT_FOUND$/m);
  });

  it('a silent node is said to be so first, and its figures as of its last report', () => {
    const text = renderStatus(branch({ pending: { blobs: 0, bytes: 0 }, transfers: [], stale: true, receivedAt: '2026-11-27T09:00:00.000Z' }));
    assert.match(text, /^paris {2}STALE: last report 2026-11-27T09:00:00\.000Z, figures as of then {2}catalog 5/);
    assert.match(text, /nothing was pending for its rings then/);
    assert.doesNotMatch(text, /nothing pending for its rings/);
  });
});
