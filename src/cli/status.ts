import type { Command } from 'commander';
import { common, clientFor, globalOptions, printJson } from './context.js';

export function registerStatus(program: Command): void {
  common(program.command('status'), { server: true, json: true })
    .description('the state of a node (default: the primary)')
    .option('--node <name>', 'ask this node (its URL from the topology)')
    .action(async (opts: { node?: string }, cmd: Command) => {
      const client = clientFor(cmd, process.env, opts.node);
      const status = await client.getJson<Record<string, unknown>>('v1/status');
      if (globalOptions(cmd).json) return printJson(status);
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    });
}
