import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { createMetrics } from '../../src/metrics/metrics.js';
import { REPO_ROOT } from '../helpers/env.js';

it('docs/metrics.md lists exactly the metrics Sluice declares (besides prom-client defaults), with their types', async () => {
  const m = createMetrics('n', '0.0.0', { upstreams: ['up'], children: ['down'] });
  const text = await m.scrape();
  const declared = new Map([...text.matchAll(/^# TYPE (sluice_\w+) (\w+)$/gm)].map((x) => [x[1]!, x[2]!]));
  const doc = readFileSync(path.join(REPO_ROOT, 'docs/metrics.md'), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| `(sluice_\w+)` \| (\w+) \|/gm)].map((x) => [x[1]!, x[2]!]));
  assert.deepEqual([...documented.keys()].sort(), [...declared.keys()].sort());
  for (const [name, type] of documented) assert.equal(type, declared.get(name), `${name}: type`);
});

it('process and runtime metrics carry the standard names, not a sluice_ prefix', async () => {
  const text = await createMetrics('n', '0.0.0').scrape();
  for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  assert.doesNotMatch(text, /^# TYPE sluice_(process|nodejs)_/m);
});

it('series of fixed label sets exist at zero from start-up', async () => {
  const text = await createMetrics('n', '0.0.0', { upstreams: ['up'], children: ['down'] }).scrape();
  for (const series of [
    'sluice_catalog_rejected_total{reason="rollback"} 0',
    'sluice_transfer_queue{state="waiting"} 0',
    'sluice_overdue_packages{severity="critical"} 0',
    'sluice_reports_total{status="succeeded-reboot"} 0',
    'sluice_http_errors_total{code="HASH_MISMATCH"} 0',
    'sluice_transfer_bytes_total{direction="in",peer="up"} 0',
    'sluice_transfer_bytes_total{direction="out",peer="down"} 0',
    'sluice_transfer_bytes_total{direction="out",peer="endpoint"} 0',
  ]) {
    assert.ok(text.includes(series), series);
  }
});
