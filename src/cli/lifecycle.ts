import type { Logger } from '../log/logger.js';

/**
 * Keeps the process alive until SIGTERM or SIGINT, then closes everything and exits 0.
 * A second signal while draining exits 1 at once (an operator who insists).
 */
export function closeOnSignal(closers: readonly (() => Promise<void>)[], logger: Logger): void {
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      logger.warn({ signal }, 'second signal while draining; exiting now');
      process.exit(1);
    }
    draining = true;
    logger.info({ signal }, 'draining');
    void Promise.allSettled(closers.map((close) => close())).then((results) => {
      const failed = results.some((r) => r.status === 'rejected');
      logger.info('stopped');
      logger.flush?.();
      process.exit(failed ? 1 : 0);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
