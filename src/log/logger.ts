import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout (what journald and log shippers expect). One root logger
 * per process; components take children carrying `{ node, component, peer }`.
 */
export function createLogger(options: { level?: LevelWithSilent; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? ((process.env.SLUICE_LOG_LEVEL as LevelWithSilent | undefined) || 'info');
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, (options.destination ?? process.stdout) as DestinationStream);
}
