import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { stringify } from 'yaml';
import { scrapeConfig } from '../../src/cli/scrape-config.js';
import { ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { REPO_ROOT, freePorts, onTeardown, tempDir, waitFor } from '../helpers/env.js';
import { converged, release } from '../helpers/replication.js';
import { FixtureAptRepo } from '../helpers/apt-repo.js';

const PROM_DIR = path.join(REPO_ROOT, 'deploy/prometheus');
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
// CI installs Debian's prometheus package (.ci/run); elsewhere, say how to get it.
const missing = ['prometheus', 'promtool'].filter((c) => !have(c));
const skip = missing.length > 0 && !process.env.CI ? `needs ${missing.join(' and ')}: apt-get install prometheus` : false;

let promUrl = '';
let nodeUrls: string[] = [];

async function query(expr: string): Promise<{ status: string; data: { result: unknown[] } }> {
  const res = await request(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.body.json()) as { status: string; data: { result: unknown[] } };
}

/** `measure OP threshold` → measure: an alert's condition without its threshold. */
function measureOf(expr: string): string {
  const m = /^([\s\S]*)\s(==|!=|>=|<=|>|<)\s*-?[\d.]+(?:e[+-]?\d+)?\s*$/.exec(expr.trim());
  assert.ok(m, `alert expression "${expr}" is not of the form "measure OP threshold"`);
  return m[1]!.trim();
}

describe('Prometheus scrapes a three-tier tree; every dashboard and alert expression has data', { skip }, () => {
  before(async () => {
    // Over TLS, as the demo and production run: Prometheus scrapes with trust.ca pinned.
    // A vendor feed at the primary (a fixture repository), so the feed alerts have series.
    const repo = new FixtureAptRepo();
    await repo.listen();
    repo.addPackage({ name: 'hello', version: '1.0-1' });
    repo.publish();
    // And a promotion gate from pilot, held by a pilot endpoint's failure, so its alert has a series.
    const feeds = ['rings: { pilot: { promote: { to: broad } }, broad: {} }', 'feeds:', `  vendor: { type: apt, url: "${repo.url}", suites: [stable], components: [main], architectures: [amd64], keyring: "${repo.keyringPath}" }`].join('\n');
    const c = await makeCluster([{ name: 'hq' }, { name: 'hub', upstream: 'hq' }, { name: 'branch', upstream: 'hub', extra: 'ring: pilot' }], feeds, undefined, { tls: true });
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(c.caPath, 'utf8') } }));
    const hq = await startNode(c.topology, 'hq', c.secrets, { promoteEveryMs: 200, statusPushMs: 200 });
    await startNode(c.topology, 'hub', c.secrets, { statusPushMs: 200 });
    const branch = await startNode(c.topology, 'branch', c.secrets, { statusPushMs: 200 });
    const base = c.topology.nodes.get('hq')!.url;
    await release(base, c.dir, 'one', { size: 200_000 });
    await release(base, c.dir, 'two', { size: 100_000, meta: { severity: 'critical' } });
    await release(base, c.dir, 'fix', { size: 10_000, ring: 'pilot' });
    await converged(branch, hq.catalog.seq);
    const failed = await request(`${branch.address.url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${ENDPOINT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ reports: [{ clientId: 'pc-1', package: 'fix@1', status: 'failed', error: 'exit 1', at: new Date().toISOString() }] }) });
    assert.equal(failed.statusCode, 200);
    await failed.body.dump();
    await waitFor('fix@1 held at the primary', async () => (await (await request(`${base}/metrics`)).body.text()).includes('sluice_promotion_held{package="fix@1",from="pilot",to="broad"} 1'), 30_000);
    nodeUrls = [...c.topology.nodes.values()].map((n) => n.url);

    const dir = tempDir();
    const [port] = await freePorts(1);
    const config = { global: { scrape_interval: '1s', evaluation_interval: '1s' }, rule_files: [path.join(PROM_DIR, 'sluice-alerts.yml')], scrape_configs: [scrapeConfig(c.topology, 'sluice', 1)] };
    writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
    const prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    onTeardown(() => prom.kill('SIGKILL'));
    promUrl = `http://127.0.0.1:${port}`;
    await waitFor('prometheus to be ready', async () => (await request(`${promUrl}/-/ready`).then((r) => (r.body.dump(), r.statusCode)).catch(() => 0)) === 200, 30_000);
    // Enough scrapes of every node for rate() and increase() windows to have two points.
    await waitFor('three scrapes of every node', async () => {
      const r = await query('count_over_time(up{job="sluice"}[1m]) >= 3 and up{job="sluice"} == 1');
      return r.data.result.length === 3;
    }, 30_000);
  });

  it('every expression of the Grafana dashboard returns data (drill-down on a downstream node)', async () => {
    const dash = JSON.parse(readFileSync(path.join(REPO_ROOT, 'deploy/grafana/dashboards/sluice-overview.json'), 'utf8'));
    const exprs: string[] = dash.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr));
    assert.ok(exprs.length >= 20);
    assert.equal(dash.uid, 'sluice-overview');
    for (const expr of exprs) {
      const r = await query(expr.replaceAll('$node', 'branch'));
      assert.equal(r.status, 'success', expr);
      assert.ok(r.data.result.length > 0, `no data for: ${expr}`);
    }
  });

  it('every alert rule\'s measure returns data', async () => {
    const rules = readFileSync(path.join(PROM_DIR, 'sluice-alerts.yml'), 'utf8');
    const exprs = [...rules.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
    assert.ok(exprs.length >= 8);
    for (const expr of exprs) {
      const r = await query(measureOf(expr));
      assert.equal(r.status, 'success', expr);
      assert.ok(r.data.result.length > 0, `no data for: ${measureOf(expr)}`);
    }
    const loaded = (await (await request(`${promUrl}/api/v1/rules`)).body.json()) as { data: { groups: { rules: { health: string; name: string }[] }[] } };
    for (const rule of loaded.data.groups.flatMap((g) => g.rules)) assert.equal(rule.health, 'ok', rule.name);
  });

  it('promtool check metrics is silent on every node; the rules pass check and unit tests', async () => {
    for (const url of nodeUrls) {
      const text = await (await request(`${url}/metrics`)).body.text();
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(r.status, 0, `${url}: ${r.stdout}${r.stderr}`);
      assert.equal(`${r.stdout}${r.stderr}`, '', `${url}: promtool printed something`);
    }
    execFileSync('promtool', ['check', 'rules', 'sluice-alerts.yml'], { cwd: PROM_DIR });
    const out = execFileSync('promtool', ['test', 'rules', 'sluice-alerts.test.yml'], { cwd: PROM_DIR, encoding: 'utf8' });
    assert.match(out, /SUCCESS/);
    execFileSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: PROM_DIR });
  });
});
