/**
 * The local stack's own log lines (not the handlers': those are Powertools JSON on stdout, as in
 * Lambda). Tests pass {@link silentLogger}; `npm start` uses {@link consoleLogger}.
 */

/** Structured fields appended to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** The four levels the local stack logs at. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Logs nothing. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** A level name: lines below it are dropped. */
export type LogLevel = (typeof LEVELS)[number];

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string') return /^[\w.:/@$*+=-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * One line per event on stderr (`HH:MM:SS.mmm level message key=value ...`), so stdout stays
 * the handlers' JSON logs and the startup banner.
 *
 * @example
 * const logger = consoleLogger('info');
 * logger.info('connection opened', { connectionId: 'abc=' });
 */
export function consoleLogger(
  level: LogLevel = 'info',
  write = (line: string) => process.stderr.write(line),
): Logger {
  const min = LEVELS.indexOf(level);
  const line = (at: LogLevel) => (message: string, fields?: LogFields) => {
    if (LEVELS.indexOf(at) < min) return;
    const time = new Date().toISOString().slice(11, 23);
    const extra = Object.entries(fields ?? {})
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => ` ${key}=${formatValue(value)}`)
      .join('');
    write(`${time} ${at.padEnd(5)} ${message}${extra}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
