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

/**
 * Characters a terminal acts on or that break a line: C0 controls, DEL, C1 controls (0x9B is a
 * CSI of its own) and the line and paragraph separators. JSON.stringify escapes only C0.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is its purpose
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `text` with each control character written as its `\uXXXX` escape: one line, which a terminal
 * prints and never acts on. What a log line carries from a caller (a field name in an error
 * message, a path) goes through this, so no caller can forge a second line or colour the screen.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A field's value on a readable log line: bare when plain, else quoted as JSON, controls escaped. */
export function formatValue(value: unknown): string {
  if (value instanceof Error) return printable(JSON.stringify(value.message));
  if (typeof value === 'string')
    return /^[\w.:/@$*+=-]+$/.test(value) ? value : printable(JSON.stringify(value));
  return printable(JSON.stringify(value) ?? String(value));
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
      .map(([key, value]) => ` ${printable(key)}=${formatValue(value)}`)
      .join('');
    write(`${time} ${at.padEnd(5)} ${printable(message)}${extra}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
