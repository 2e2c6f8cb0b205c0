import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { createRequire } from 'node:module';

export type { Logger };

/** `json` for services and log shippers; `pretty` for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

/**
 * The format for this process: $SLUICE_LOG_FORMAT when set, else readable lines when stdout
 * is a terminal (`npm start`) and JSON otherwise (systemd, containers, pipes).
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, isTTY = process.stdout.isTTY === true): LogFormat {
  const asked = env.SLUICE_LOG_FORMAT;
  if (asked === 'json' || asked === 'pretty') return asked;
  return isTTY ? 'pretty' : 'json';
}

/**
 * Structured logs on stdout: one JSON object per line (what journald and log shippers
 * expect), or on a terminal one readable line each. One root logger per process;
 * components take children carrying `{ node, component }`, each key once per line.
 */
export function createLogger(options: { level?: LevelWithSilent; destination?: NodeJS.WritableStream; format?: LogFormat } = {}): Logger {
  const level = options.level ?? ((process.env.SLUICE_LOG_LEVEL as LevelWithSilent | undefined) || 'info');
  const format = options.format ?? (options.destination ? 'json' : logFormat());
  const out = (options.destination ?? process.stdout) as DestinationStream;
  const destination =
    format === 'json'
      ? out
      : loadPretty()({
          destination: out,
          sync: true,
          colorize: process.stdout.isTTY === true && !process.env.NO_COLOR,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'node,component',
          // "hq/replicate" in front of the message says where a line comes from in a few characters.
          messageFormat: (log, messageKey) => {
            const where = [log.node, log.component].filter((v) => typeof v === 'string').join('/');
            return `${where ? `${where} ` : ''}${String(log[messageKey] ?? '')}`;
          },
          singleLine: true,
        });
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** pino-pretty (about 10 MiB resident) is loaded only when a person reads the logs. */
function loadPretty(): typeof import('pino-pretty').PinoPretty {
  return (createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty')).PinoPretty;
}
