import type { Logger } from '../log/logger.js';

/** One named step of a node's shutdown. */
export type CloseStep = readonly [name: string, step: () => unknown];

/** Runs every step in order even when one fails; resolves with the first failure, if any. */
export async function runCloseSteps(steps: readonly CloseStep[], log: Logger): Promise<unknown> {
  let first: unknown;
  for (const [name, step] of steps) {
    try {
      const started = Date.now();
      await step();
      log.debug({ step: name, ms: Date.now() - started }, 'closed');
    } catch (err) {
      first ??= err;
      log.error({ err, step: name }, 'error while closing');
    }
  }
  return first;
}
