import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface WrkResult {
  requestsPerSec: number;
  bytesPerSec: number;
  /** Responses that were not 2xx/3xx, and socket errors: a run with any is not a valid figure. */
  errors: number;
  /** Requests completed in the run. */
  requests: number;
  seconds: number;
}

export interface WrkOptions {
  threads: number;
  connections: number;
  /** Upper bound of the run; a script may stop its threads earlier. */
  seconds: number;
  dir: string;
  name: string;
}

/**
 * wrk, an outside load generator (C, its own threads), on `urls` in turn: a Lua script walks
 * the list so every request asks for the next distinct path, with `headers` on each.
 */
export async function runWrk(urls: string[], o: WrkOptions & { headers?: Record<string, string> }): Promise<WrkResult> {
  const headers = Object.entries(o.headers ?? {}).map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  const lua = [
    `local paths = { ${urls.map((u) => JSON.stringify(new URL(u).pathname + new URL(u).search)).join(', ')} }`,
    `local headers = { ${headers.join(', ')} }`,
    'local i = 0',
    'request = function()',
    '  i = i % #paths + 1',
    '  return wrk.format("GET", paths[i], headers)',
    'end',
    '',
  ].join('\n');
  return runWrkScript(new URL(urls[0]!).origin, lua, o);
}

/** wrk with a Lua script of the caller's (requests built per thread, a stop after N, ...). */
export async function runWrkScript(origin: string, lua: string, o: WrkOptions): Promise<WrkResult> {
  const script = path.join(o.dir, `${o.name}.lua`);
  writeFileSync(script, lua);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '10s', '-s', script, `${origin}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d));
    child.stderr.on('data', (d: Buffer) => (text += d));
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(out);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[transfer?.[2] ?? 'B'] ?? 1;
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  const done = /(\d+) requests in ([\d.]+)(m?s|m)\b/.exec(out);
  const seconds = done ? Number(done[2]) * (done[3] === 'ms' ? 1e-3 : done[3] === 'm' ? 60 : 1) : NaN;
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    bytesPerSec: transfer ? Number(transfer[1]) * unit : NaN,
    errors: errors + (socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
    requests: done ? Number(done[1]) : NaN,
    seconds,
  };
}
