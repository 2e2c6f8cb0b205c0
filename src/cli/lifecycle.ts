import type { Logger } from '../log/logger.js';

/**
 * Keeps the process alive until SIGTERM or SIGINT, then closes everything and exits 0.
 * A second signal while draining exits 1 at once (an operator who insists) — unless it comes
 * within a second of the first: Ctrl-C under `npm start` reaches this process twice, once from
 * the terminal (the whole process group) and once forwarded by npm, and that is one request.
 */
export function closeOnSignal(closers: readonly (() => Promise<void>)[], logger: Logger): void {
  let drainingSince: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (drainingSince !== undefined) {
      if (Date.now() - drainingSince < SAME_REQUEST_MS) return;
      logger.warn({ signal }, 'second signal while draining; exiting now');
      process.exit(1);
    }
    drainingSince = Date.now();
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

/** Signals closer together than this are one request to stop (see closeOnSignal). */
const SAME_REQUEST_MS = 1000;
