#!/usr/bin/env node
import { Command, CommanderError, type Option } from 'commander';
import { registerAgent } from './cli/agent.js';
import { registerAptSource } from './cli/apt-source.js';
import { registerRpmRepo } from './cli/rpm-repo.js';
import { registerPromotions } from './cli/promotions.js';
import { registerCert } from './cli/cert.js';
import { registerCheck } from './cli/check.js';
import { registerKeygen } from './cli/keygen.js';
import { registerPackageCommands } from './cli/packages.js';
import { registerPlan } from './cli/plan.js';
import { registerOffline } from './cli/offline.js';
import { registerFeeds } from './cli/feeds.js';
import { registerAccess } from './cli/access.js';
import { registerReport } from './cli/report.js';
import { registerRestore } from './cli/restore.js';
import { registerRecover } from './cli/recover.js';
import { registerRoot } from './cli/root.js';
import { registerScrapeConfig } from './cli/scrape-config.js';
import { registerServe } from './cli/serve.js';
import { registerStatus } from './cli/status.js';
import { registerUp } from './cli/up.js';
import { registerVerify } from './cli/verify.js';
import { SluiceError } from './errors.js';
import { VERSION } from './version.js';

/** Exit codes: 0 ok, 1 failure, 2 bad usage. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const program = new Command('sluice')
  .description('Sluice: hierarchical replication of approved package files')
  .version(VERSION, '-V, --version', 'print the Sluice version')
  .enablePositionalOptions()
  .exitOverride()
  .showHelpAfterError('(run "sluice --help" for usage)');

registerUp(program);
registerServe(program);
registerCheck(program);
registerKeygen(program);
registerCert(program);
registerPackageCommands(program);
registerStatus(program);
registerVerify(program);
registerRestore(program);
registerRecover(program);
registerRoot(program);
registerPlan(program);
registerScrapeConfig(program);
registerAgent(program);
registerReport(program);
registerOffline(program);
registerFeeds(program);
registerAptSource(program);
registerRpmRepo(program);
registerPromotions(program);
registerAccess(program);
for (const cmd of program.commands) cmd.exitOverride();
reportUnknownOptionsFirst(program);

/**
 * Commander checks required options before unknown ones, so a typo (`--ver 1.0`) was
 * reported as a missing `--name`. Required options are checked here instead, after
 * commander has rejected unknown options with its "did you mean" suggestion.
 */
function reportUnknownOptionsFirst(root: Command): void {
  const required = new Set<Option>();
  const walk = (cmd: Command) => {
    for (const opt of cmd.options) {
      if (!opt.mandatory) continue;
      opt.makeOptionMandatory(false);
      required.add(opt);
    }
    cmd.commands.forEach(walk);
  };
  walk(root);
  addPrefixSuggestions(root);
  root.hook('preAction', (_root, action) => {
    for (const opt of action.options) {
      if (required.has(opt) && action.getOptionValue(opt.attributeName()) === undefined) action.error(`error: required option '${opt.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue' });
    }
  });
}

/**
 * An abbreviated flag names the option it abbreviates: `--ver` suggests `--version`, where
 * commander's edit distance alone picked `--server`.
 */
function addPrefixSuggestions(root: Command): void {
  const walk = (cmd: Command) => {
    cmd.configureOutput({
      // Every usage error carries its code like any other error (docs/errors.md): "error USAGE: ...".
      outputError: (text, write) => {
        const m = /^error: unknown option '(--[^']+)'(?:\n\(Did you mean (--[\w-]+)\?\))?/.exec(text);
        if (!m) return write(text.replace(/^error: /, 'error USAGE: '));
        const flags = cmd.options.map((o) => o.long).filter((l): l is string => l !== undefined);
        const prefixed = flags.filter((l) => l.startsWith(m[1]!));
        const guess = prefixed.length === 1 ? prefixed[0] : m[2];
        write(`error USAGE: unknown option ${m[1]}${guess ? ` (did you mean ${guess}?)` : ''}${text.slice(m[0].length)}`);
      },
    });
    cmd.commands.forEach(walk);
  };
  walk(root);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version also arrive here, with exit code 0
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof SluiceError) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    for (const line of err.details) process.stderr.write(`  ${line}\n`);
    process.exitCode = err.code === 'USAGE' ? EXIT_USAGE : EXIT_FAILURE;
  } else {
    process.stderr.write(`error INTERNAL: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}
