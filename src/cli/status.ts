import type { Command } from 'commander';
import { clientFor, common, globalOptions, printJson } from './context.js';
import { renderStatus, type StatusJson } from './render-status.js';

export function registerStatus(program: Command): void {
  common(program.command('status'), { server: true, json: true })
    .description('the tree below a node (default: the primary): catalog position, pending blobs and bytes, transfers with progress, last error')
    .option('--node <name>', 'ask this node (its URL from the topology)')
    .action(async (opts: { node?: string }, cmd: Command) => {
      const status = await clientFor(cmd, process.env, opts.node).getJson<StatusJson>('v1/status');
      if (globalOptions(cmd).json) return printJson(status);
      process.stdout.write(`${renderStatus(status)}\n`);
    });
}
