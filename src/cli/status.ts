import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { SluiceError, toSluiceError } from '../errors.js';
import { parseDuration } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson } from './context.js';
import { renderStatus, type StatusJson } from './render-status.js';
import { renderRings, type RingsJson } from './render-rings.js';
import { PATHS } from '../protocol/paths.js';
import { fetchRings } from './fetch-rings.js';

export function registerStatus(program: Command): void {
  common(program.command('status'), { server: true, json: true })
    .description('the tree below a node (default: the primary): catalog position, pending blobs and bytes, transfers with progress, last error')
    .option('--node <name>', 'ask this node (its URL from the topology)')
    .option('-w, --watch', 'keep showing it: redrawn in place on a terminal, one block (or with --json one line) per refresh otherwise; Ctrl-C stops')
    .option('--interval <duration>', 'time between refreshes with --watch', '2s')
    .option('--count <n>', 'with --watch: stop after this many refreshes')
    .option('--by-ring', 'per ring (and all): the versions its machines receive now, the nodes that hold each, its endpoints\' outcomes (needs a token that reads reports)')
    .option('--ring <ring>', 'with --by-ring: this ring only')
    .action(async (opts: { node?: string; watch?: boolean; interval: string; count?: string; byRing?: boolean; ring?: string }, cmd: Command) => {
      const client = clientFor(cmd, process.env, opts.node);
      const json = globalOptions(cmd).json === true;
      if (opts.ring !== undefined && !opts.byRing) throw new SluiceError('USAGE', '--ring goes with --by-ring');
      const fetchStatus = opts.byRing ? () => fetchRings(client, opts.ring) : () => client.getJson<StatusJson>(PATHS.status);
      const render = (body: StatusJson | RingsJson) => (opts.byRing ? renderRings(body as RingsJson) : renderStatus(body as StatusJson));
      if (!opts.watch) {
        const status = await fetchStatus();
        if (json) return printJson(status);
        process.stdout.write(`${render(status)}\n`);
        return;
      }
      const intervalMs = parseDuration(opts.interval);
      if (intervalMs === undefined || intervalMs < 100) throw new SluiceError('USAGE', `--interval ${opts.interval}: expected a duration of at least 100ms, e.g. "2s"`);
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (opts.count !== undefined && (!Number.isInteger(count) || count < 1)) throw new SluiceError('USAGE', `--count ${opts.count}: expected a whole number of refreshes, at least 1`);
      await watch(fetchStatus, render, { intervalMs, count, json, tty: process.stdout.isTTY === true });
    });
}

/**
 * Refreshes until Ctrl-C (or `count` refreshes). A node that stops answering is shown as
 * such and asked again: watching is for the moments when things go wrong.
 */
async function watch<T>(fetchStatus: () => Promise<T>, render: (body: T) => string, o: { intervalMs: number; count: number; json: boolean; tty: boolean }): Promise<void> {
  const redraw = o.tty && !o.json;
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on('SIGINT', onSigint);
  if (redraw) process.stdout.write('\x1b[2J\x1b[?25l'); // clear once, hide the cursor while redrawing
  try {
    for (let i = 0; i < o.count && !stop.signal.aborted; i++) {
      const at = new Date();
      let body: string;
      try {
        const status = await fetchStatus();
        body = o.json ? JSON.stringify(status) : render(status);
      } catch (err) {
        const e = toSluiceError(err, 'asking for status');
        body = o.json ? JSON.stringify({ at: at.toISOString(), error: { code: e.code, message: e.message } }) : `${e.code}: ${e.message}`;
      }
      if (o.json) process.stdout.write(`${body}\n`);
      else {
        const header = `sluice status at ${at.toISOString().slice(11, 19)}Z, every ${o.intervalMs / 1000}s${redraw ? ' (Ctrl-C stops)' : ''}`;
        // Home, then each line over the old one (erasing its rest), then whatever was below.
        if (redraw) process.stdout.write(`\x1b[H${[header, '', ...body.split('\n')].map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`);
        else process.stdout.write(`${i > 0 ? '\n' : ''}${header}\n${body}\n`);
      }
      if (i + 1 < o.count) await sleep(o.intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (redraw) process.stdout.write('\x1b[?25h');
  }
}
