import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import type { RecordBody } from '../../src/catalog/records.js';
import { ADMIN, ENDPOINT, startCluster } from '../lib/cluster.js';
import { fillCatalog } from '../lib/fill-catalog.js';
import { haveTool } from '../lib/nginx.js';
import { currentRss, peakRss } from '../lib/proc.js';
import { table } from '../lib/report.js';
import { runWrk, runWrkScript } from '../lib/wrk.js';

const PACKAGES_REPORTED = 5;
const MiB = 1024 * 1024;

/**
 * Endpoints at WSUS scale, against one node (wrk outside it, two threads):
 * - `/v1/updates` with N approved packages: the 304 path (If-None-Match with the current
 *   ETag) and the full answer, in req/s, with the answer's size;
 * - reports: E endpoints each sending one batch of 5 outcomes as the agent does (one POST
 *   per endpoint), counted exactly by the wrk script; ingest rate, the node's RSS after,
 *   and the rollup checked against what was sent.
 */
export async function endpointsScenario(opts: { quick: boolean }): Promise<string> {
  if (!haveTool('wrk', 'apt-get install wrk')) return 'Endpoints: skipped (needs wrk)';
  const packages = opts.quick ? 2_000 : 10_000;
  const endpoints = opts.quick ? 20_000 : 100_000;
  const seconds = opts.quick ? 3 : 8;
  const cluster = await startCluster([{ name: 'hq' }], {
    // N packages published and approved, 500 per append, before the primary starts.
    prepare: (ctx) =>
      fillCatalog(ctx, 'hq', (n, at) =>
        Array.from({ length: Math.max(0, Math.min(500, packages - n * 500)) }, (_, j) => `app${n * 500 + j}@1.0.${j}`).flatMap((id, j): RecordBody[] => [
          { type: 'publish', id, severity: j % 10 === 0 ? 'important' : 'low', files: [{ name: 'setup.msi', size: 100_000 + j, sha256: randomBytes(32).toString('hex'), platform: j % 2 ? 'windows-x64' : 'linux-x64' }], by: 'bench', at },
          { type: 'approve', id, ring: 'all', by: 'bench', at },
        ]),
      ),
  });
  const hq = cluster.url('hq');
  const pid = cluster.children.get('hq')!.pid!;
  const rows: string[][] = [];
  let check = '';
  try {
    const query = `${hq}/v1/updates?platform=windows-x64&ring=pilot`;
    const t0 = performance.now();
    const first = await request(query);
    const body = Buffer.from(await first.body.arrayBuffer());
    const firstMs = performance.now() - t0;
    const etag = String(first.headers.etag);
    const listed = (JSON.parse(body.toString()) as { updates: unknown[] }).updates.length;
    const notModified = await runWrk([query], { threads: 2, connections: 32, seconds, dir: cluster.dir, name: 'updates-304', headers: { 'If-None-Match': etag } });
    // A 304 has no body: more than headers per response would mean full answers were sent.
    const perResponse = notModified.bytesPerSec / notModified.requestsPerSec;
    if (notModified.errors > 0 || !(perResponse < 400)) throw new Error(`bench: the 304 run got ${notModified.errors} errors, ${perResponse.toFixed(0)} B per response`);
    const full = await runWrk([query], { threads: 2, connections: 32, seconds, dir: cluster.dir, name: 'updates-full' });
    if (full.errors > 0) throw new Error(`bench: ${full.errors} errors on full /v1/updates answers`);
    rows.push(
      [`/v1/updates, ${packages} approved, 304 (If-None-Match)`, `${notModified.requestsPerSec.toFixed(0)} req/s`, '≥ 5000 req/s', notModified.requestsPerSec >= 5000 ? 'met' : 'NOT MET'],
      [`/v1/updates, full answer (${listed} packages, ${(body.length / 1024).toFixed(0)} KiB)`, `${full.requestsPerSec.toFixed(0)} req/s, ${(full.bytesPerSec / MiB).toFixed(0)} MiB/s`, '', ''],
      ['/v1/updates, first answer after a change (walks the catalog)', `${firstMs.toFixed(0)} ms`, '', ''],
    );

    // One POST per endpoint with its 5 outcomes, each request a new endpoint, in runs of a
    // few seconds until enough endpoints have reported (wrk runs for its whole duration, so
    // counting is by what it completed: in-flight requests cut at the end of a run may or
    // may not have been recorded, at most `connections` per run).
    const rssBefore = currentRss(pid);
    const connections = 16;
    let sent = 0;
    let took = 0;
    let runs = 0;
    for (; sent < endpoints && runs < 100; runs++) {
      const lua = [
        // setup() runs in the main script state: each thread gets its number as the global "tid".
        'local threads = 0',
        'setup = function(thread) threads = threads + 1; thread:set("tid", threads) end',
        'local n = 0',
        'request = function()',
        '  n = n + 1',
        `  local client = "ep-${runs}-" .. tid .. "-" .. n`,
        '  local at = "2026-11-27T10:00:00.000Z"',
        '  local items = {}',
        `  for k = 0, ${PACKAGES_REPORTED - 1} do`,
        '    local status = (k == 0 and n % 50 == 0) and "failed" or "succeeded"',
        '    local err = status == "failed" and \',"error":"exit code 1: disk full"\' or ""',
        '    items[#items + 1] = \'{"clientId":"\' .. client .. \'","package":"app\' .. k .. \'@1.0.\' .. k .. \'","status":"\' .. status .. \'"\' .. err .. \',"at":"\' .. at .. \'"}\'',
        '  end',
        '  local body = \'{"reports":[\' .. table.concat(items, ",") .. "]}"',
        `  return wrk.format("POST", "/v1/reports", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer ${ENDPOINT}" }, body)`,
        'end',
        '',
      ].join('\n');
      const run = await runWrkScript(hq, lua, { threads: 2, connections, seconds: opts.quick ? 3 : 5, dir: cluster.dir, name: `reports-${runs}` });
      if (run.errors > 0) throw new Error(`bench: ${run.errors} report requests failed`);
      sent += run.requests;
      took += run.seconds;
    }
    // Requests cut at the end of the last run may still be committing: read once it is quiet.
    const readRollup = async () => (await request(`${hq}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.body.json())) as { sites: Record<string, { clients: number; packages: Record<string, Record<string, number>> }> };
    let rollup = await readRollup();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const next = await readRollup();
      const settled = next.sites.hq!.clients === rollup.sites.hq!.clients;
      rollup = next;
      if (settled) break;
    }
    const site = rollup.sites.hq!;
    // Every endpoint counted once; each package has one outcome per endpoint; failures are
    // those of app0 only, one endpoint in 50 (within what the cut requests can add).
    const app0 = site.packages['app0@1.0.0'] ?? {};
    const app4 = site.packages['app4@1.0.4'] ?? {};
    const slack = connections * runs;
    const ok = site.clients >= sent && site.clients <= sent + slack && (app0.failed ?? 0) + (app0.succeeded ?? 0) === site.clients && app4.succeeded === site.clients && Math.abs((app0.failed ?? 0) - site.clients / 50) <= slack / 50 + 2 * runs;
    check = `${ok ? 'rollup checked' : 'ROLLUP WRONG'}: wrk completed ${sent} reports in ${runs} runs; the node counts ${site.clients} clients; app0 ${JSON.stringify(app0)}; app4 ${JSON.stringify(app4)}`;
    // Killed and started again: every report is read back from LevelDB at start-up.
    const rssAfter = currentRss(pid);
    const peak = peakRss(pid);
    cluster.children.get('hq')!.kill('SIGKILL');
    await new Promise((r) => cluster.children.get('hq')!.once('exit', r));
    const restartAt = performance.now();
    cluster.spawnNode('hq');
    await cluster.ready('hq');
    const restartSec = (performance.now() - restartAt) / 1000;
    const again = (await request(`${hq}/v1/reports`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.body.json())) as typeof rollup;
    // The same counts per package and status (the order of keys may differ after a restart).
    const canonical = (p: Record<string, Record<string, number>>) => JSON.stringify(Object.keys(p).sort().map((k) => [k, Object.keys(p[k]!).sort().map((st) => [st, p[k]![st]])]));
    const same = canonical(again.sites.hq!.packages) === canonical(site.packages) && again.sites.hq!.clients === site.clients;
    rows.push(
      [`reports: ${sent} endpoints × ${PACKAGES_REPORTED} outcomes, one POST each`, `${(sent / took).toFixed(0)} endpoints/s (${took.toFixed(1)} s)`, '', ok ? 'rollup right' : 'ROLLUP WRONG'],
      ['node RSS before / after ingest / peak', `${(rssBefore / MiB).toFixed(0)} / ${(rssAfter / MiB).toFixed(0)} / ${(peak / MiB).toFixed(0)} MiB`, '', ''],
      ['start-up after SIGKILL, reading every report back', `${restartSec.toFixed(1)} s`, '', same ? 'same figures' : `FIGURES DIFFER: ${again.sites.hq!.clients} clients, app0 ${JSON.stringify(again.sites.hq!.packages['app0@1.0.0'])}`],
    );
  } finally {
    await cluster.stop();
  }
  return [`Endpoints at scale: one node, wrk -t2 outside it`, table(['measure', 'value', 'target', ''], rows), check].join('\n');
}
