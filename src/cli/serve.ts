import type { Command } from 'commander';
import { loadSecrets, secretsForNode } from '../auth/secrets.js';
import { SluiceNode } from '../daemon.js';
import { createLogger } from '../log/logger.js';
import { common, topologyOf } from './context.js';
import { closeOnSignal } from './lifecycle.js';

/** `sluice serve --node NAME`: one node per process, as in production. */
export function registerServe(program: Command): void {
  common(program.command('serve'))
    .description('run one node of the topology (production: one per site)')
    .requiredOption('--node <name>', 'the node to run, as named under "nodes"')
    .option('--secrets <file>', 'secrets file (KEY=VALUE lines; the demo\'s is data/demo.env); default $SLUICE_SECRETS_FILE')
    .action(async (opts: { node: string; secrets?: string }, cmd: Command) => {
      const topology = topologyOf(cmd);
      const logger = createLogger();
      const node = new SluiceNode({ topology, nodeName: opts.node, secrets: secretsForNode(loadSecrets(process.env, opts.secrets), opts.node), logger });
      closeOnSignal([() => node.close()], logger);
      await node.start();
    });
}
