import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface WrkResult {
  requestsPerSec: number;
  bytesPerSec: number;
  /** Responses that were not 2xx/3xx, and socket errors: a run with any is not a valid figure. */
  errors: number;
}

/**
 * wrk, an outside load generator (C, its own threads), on `urls` in turn: a Lua script walks
 * the list so every request asks for the next distinct path.
 */
export async function runWrk(urls: string[], o: { threads: number; connections: number; seconds: number; dir: string; name: string }): Promise<WrkResult> {
  const base = new URL(urls[0]!);
  const script = path.join(o.dir, `${o.name}.lua`);
  writeFileSync(
    script,
    [`local paths = { ${urls.map((u) => JSON.stringify(new URL(u).pathname)).join(', ')} }`, 'local i = 0', 'request = function()', '  i = i % #paths + 1', '  return wrk.format("GET", paths[i])', 'end', ''].join('\n'),
  );
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '-s', script, `${base.origin}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    bytesPerSec: transfer ? Number(transfer[1]) * unit : NaN,
    errors: errors + (socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
  };
}
