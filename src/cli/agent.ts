import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { outcomeSummary, runAgentOnce, type AgentOptions } from '../agent/agent.js';
import { readPublicKey } from '../catalog/keys.js';
import { SluiceError, describeFsError, isSluiceError } from '../errors.js';
import { backoffMs, sleep } from '../download/backoff.js';
import { parseDuration } from '../topology/units.js';
import { common, globalOptions, printJson, topologyOf } from './context.js';
import { closeOnSignal } from './lifecycle.js';
import { createLogger } from '../log/logger.js';
import { PeerClient } from '../protocol/peer-client.js';
import { loadCaBundle } from '../tls/tls-files.js';

interface AgentCliOptions {
  server?: string[];
  clientId: string;
  platform?: string;
  language?: string;
  ring?: string;
  cache?: string;
  exec: string;
  rebootExitCode: string;
  execTimeout: string;
  catalogKey?: string;
  ca?: string;
  every?: string;
  splay?: string;
  tokenFile?: string;
  keepInstalled?: boolean;
}

/**
 * A fixed place, whatever the working directory (a cache relative to it re-installed
 * everything when the agent ran from elsewhere): /var/cache/sluice-agent for root, as a
 * service runs it; the user's cache directory otherwise.
 */
export function defaultCacheDir(): string {
  if (process.getuid?.() === 0) return '/var/cache/sluice-agent';
  return path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'sluice-agent');
}

/** The endpoint token from a file (one line; surrounding whitespace ignored). */
function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SluiceError('FILE_NOT_READABLE', `--token-file ${file}: ${describeFsError(err)}; give the file holding this site's endpoint token`);
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) throw new SluiceError('USAGE', `--token-file ${file}: expected one token on one line`);
  return token;
}

/** `sluice agent`: the endpoint side: fetch what is approved, verify, install, report. */
export function registerAgent(program: Command): void {
  common(program.command('agent'), { json: true })
    .description('endpoint agent: install approved packages from the nearest node, verified against the signed catalog, and report')
    .option('--server <url...>', 'nodes to use, nearest first (default: the primary from the topology)')
    .requiredOption('--exec <command>', 'install command per package, e.g. "dpkg -i {file}"; {file} {files} {dir} {id} {name} {version} are replaced, shell-quoted')
    .option('--client-id <id>', 'this endpoint\'s id in reports', hostname())
    .option('--platform <platform>', 'only files for this platform (and unlabelled ones)')
    .option('--language <language>', 'only files for this language (and unlabelled ones)')
    .option('--ring <ring>', 'this endpoint\'s ring; without it only packages approved for "all" are installed (what to install is read from the verified catalog only)')
    .option('--cache <dir>', `verified catalog, downloads and install history (default: ${defaultCacheDir()})`)
    .option('--reboot-exit-code <n>', 'install exit code meaning "succeeded, reboot required" (POSIX exit codes are 0-255: Windows-style 3010 arrives as 194)', '194')
    .option('--exec-timeout <duration>', 'longest an install may run', '1h')
    .option('--ca <file>', 'the CA bundle that nodes\' certificates must chain to (default: trust.ca of the topology, else the system\'s CAs)')
    .option('--catalog-key <file>', 'the pinned catalog public key (default: trust.catalogKey of the topology)')
    .option('--token-file <file>', 'read the site\'s endpoint token from FILE (default: $SLUICE_ENDPOINT_TOKEN); a file keeps it out of the process environment')
    .option('--keep-installed', 'keep downloaded files after a successful install (default: delete them, so the cache holds only what is still to install)')
    .option('--every <duration>', 'keep running: one pass every DURATION (e.g. 4h), each after a random delay')
    .option('--splay <duration>', 'longest random delay before a pass (default: a quarter of --every, at most 30m)')
    .action(async (opts: AgentCliOptions, cmd: Command) => {
      const duration = (flag: string, text: string) => {
        const ms = parseDuration(text);
        if (ms === undefined) throw new SluiceError('USAGE', `${flag} ${text}: expected a duration such as 30s, 10m or 4h`);
        return ms;
      };
      const rebootExitCode = Number(opts.rebootExitCode);
      if (!Number.isInteger(rebootExitCode)) throw new SluiceError('USAGE', `--reboot-exit-code ${opts.rebootExitCode}: expected a whole number`);
      let topology: ReturnType<typeof topologyOf> | undefined;
      if (!opts.catalogKey || !opts.server?.length) {
        try {
          topology = topologyOf(cmd);
        } catch (err) {
          if (!isSluiceError(err, 'TOPOLOGY_NOT_FOUND')) throw err;
          // Endpoints rarely have the topology: say what to give instead.
          throw new SluiceError('USAGE', `${err.message}. An endpoint needs no topology: give --catalog-key FILE (the catalog.pub nodes pin) and --server URL (its nearest node first)`);
        }
      }
      const servers = opts.server?.length ? opts.server : [topology!.nodes.get(topology!.primary)!.url];
      const keyPath = opts.catalogKey ?? topology!.trust.catalogKeyPath;
      const caPath = opts.ca ?? topology?.trust.caPath;
      const o: AgentOptions = {
        servers,
        clientId: opts.clientId,
        platform: opts.platform,
        language: opts.language,
        ring: opts.ring,
        cacheDir: path.resolve(opts.cache ?? defaultCacheDir()),
        exec: opts.exec,
        rebootExitCode,
        execTimeoutMs: duration('--exec-timeout', opts.execTimeout),
        publicKey: readPublicKey(keyPath, opts.catalogKey ? 'the catalog public key (--catalog-key)' : 'the catalog public key (trust.catalogKey of the topology)'),
        publicKeySource: opts.catalogKey ? `--catalog-key ${opts.catalogKey}` : `trust.catalogKey (${keyPath})`,
        endpointToken: opts.tokenFile ? readTokenFile(opts.tokenFile) : process.env.SLUICE_ENDPOINT_TOKEN || undefined,
        keepInstalled: opts.keepInstalled === true,
        log: (line) => process.stderr.write(`${line}\n`),
        dispatcher: new PeerClient({ ca: caPath ? loadCaBundle(caPath) : undefined }).dispatcher,
      };
      if (!opts.every) {
        const run = await runAgentOnce(o);
        if (run.installed.some((i) => i.status === 'failed')) process.exitCode = 1;
        if (globalOptions(cmd).json) return printJson(run);
        process.stdout.write(`${run.server}: catalog ${run.catalogSeq}; ${outcomeSummary(run)}; ${run.pending.length} pending on the node, ${run.reported} reported\n`);
        return;
      }
      const everyMs = duration('--every', opts.every);
      const splayMs = opts.splay ? duration('--splay', opts.splay) : Math.min(everyMs / 4, 30 * 60_000);
      const logger = createLogger();
      const stop = new AbortController();
      closeOnSignal([async () => stop.abort()], logger);
      let failures = 0;
      while (!stop.signal.aborted) {
        // Thousands of endpoints started together reach their node spread over the splay.
        await sleep(Math.random() * splayMs, stop.signal);
        if (stop.signal.aborted) break;
        try {
          const run = await runAgentOnce(o);
          failures = 0;
          logger.info({ server: run.server, installed: run.installed, pending: run.pending.length, reported: run.reported }, `agent pass: ${outcomeSummary(run)}`);
          await sleep(everyMs, stop.signal);
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'agent pass failed; retrying');
          await sleep(Math.min(everyMs, backoffMs(failures++, 30_000, 30 * 60_000)), stop.signal);
        }
      }
    });
}
