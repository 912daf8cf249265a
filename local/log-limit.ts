/**
 * One log line per kind of repeated event and window, not one per event: a client that floods the
 * emulator with frames its route refuses (throttled, failing) must not turn into as many lines in
 * the developer's terminal, and the lines of everyone else must stay readable.
 */
import type { LogFields } from './logger';

/** How a {@link RepeatLimiter} writes a line (a logger's `warn`, say). */
export type LineWriter = (message: string, fields: LogFields) => void;

/** Options of a {@link RepeatLimiter}; the timer functions are for tests. */
export interface RepeatLimiterOptions {
  /** Length of a window. @default 5000 */
  readonly windowMs?: number;
  readonly setTimer?: (callback: () => void, ms: number) => { unref?(): unknown };
}

interface Window {
  repeats: number;
  last: LogFields;
}

/**
 * Writes the first event of a kind at once, then counts that kind's events for `windowMs`. When
 * the window closes with events counted, one line says how many (with the last one's fields) and
 * a new window opens; a window that saw none closes, and the next event is written at once again.
 *
 * @example
 * const failures = new RepeatLimiter((message, fields) => logger.warn(message, fields));
 * failures.note('$default failed', { connectionId, error });
 */
export class RepeatLimiter {
  readonly #write: LineWriter;
  readonly #windowMs: number;
  readonly #setTimer: NonNullable<RepeatLimiterOptions['setTimer']>;
  readonly #open = new Map<string, Window>();

  constructor(write: LineWriter, options: RepeatLimiterOptions = {}) {
    this.#write = write;
    this.#windowMs = options.windowMs ?? 5000;
    this.#setTimer = options.setTimer ?? setTimeout;
  }

  /** Notes one event of kind `message`: written now, or counted into its open window. */
  note(message: string, fields: LogFields): void {
    const window = this.#open.get(message);
    if (window !== undefined) {
      window.repeats++;
      window.last = fields;
      return;
    }
    this.#write(message, fields);
    this.#openWindow(message);
  }

  #openWindow(message: string): void {
    const window: Window = { repeats: 0, last: {} };
    this.#open.set(message, window);
    // Unreferenced: a pending summary never keeps a stopping process alive.
    this.#setTimer(() => {
      if (window.repeats === 0) {
        this.#open.delete(message);
        return;
      }
      this.#write(message, { ...window.last, repeats: window.repeats, withinMs: this.#windowMs });
      this.#openWindow(message);
    }, this.#windowMs).unref?.();
  }
}
