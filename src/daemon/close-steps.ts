import type { Logger } from '../log/logger.js';

/** One named step of a node's shutdown. */
export type CloseStep = readonly [name: string, step: () => unknown];

/**
 * Runs every step in order even when one fails; resolves with the first failure, if any.
 * With a `deadline` (ms since the epoch) the whole run is bounded, not each step: a step
 * still running then is left to finish on its own (said in the log) and the next one starts,
 * so one stuck step cannot hold a node told to stop beyond its drain.
 */
export async function runCloseSteps(steps: readonly CloseStep[], log: Logger, deadline = Infinity): Promise<unknown> {
  let first: unknown;
  for (const [name, step] of steps) {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const done = Promise.resolve().then(step);
      const late = Number.isFinite(deadline) ? new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - started)))) : undefined;
      const outcome = await (late ? Promise.race([done, late]) : done);
      if (outcome === 'late') {
        done.catch((err: unknown) => log.error({ err, step: name }, 'error while closing'));
        log.warn({ step: name, ms: Date.now() - started }, 'still closing when the drain ended; going on without it');
      } else log.debug({ step: name, ms: Date.now() - started }, 'closed');
    } catch (err) {
      first ??= err;
      log.error({ err, step: name }, 'error while closing');
    } finally {
      clearTimeout(timer);
    }
  }
  return first;
}
