/**
 * Which of a key's repeated events gets a log line: the first, then at most one per `windowMs`,
 * that one carrying how many happened since the last line. What a client can repeat at will (a
 * replay it stops by not reading its socket) must not turn into as many log lines.
 */
export interface RepeatCountSettings {
  /** At most one line per key in this many ms. */
  readonly windowMs: number;
  /** Keys tracked at once; past it the least recently seen is forgotten. */
  readonly maxTracked: number;
}

interface Seen {
  /** When the key's last line was written, in ms. */
  loggedAt: number;
  /** Events of the key since that line, not written. */
  unlogged: number;
}

/**
 * Per-key counts in the memory of one Lambda environment, bounded as {@link FrameRate}'s buckets
 * are: past `maxTracked` keys, the least recently seen is forgotten (and logs again at its next
 * event: eviction can only make it louder, never silent).
 *
 * @example
 * const stops = new RepeatCount({ windowMs: 60_000, maxTracked: 10_000 });
 * const count = stops.note(uid, Date.now());
 * if (count !== undefined) logger.warn('replay stopped', { uid, count });
 */
export class RepeatCount {
  readonly #settings: RepeatCountSettings;
  readonly #seen = new Map<string, Seen>();

  constructor(settings: RepeatCountSettings) {
    this.#settings = settings;
  }

  /**
   * Counts one event of `key` at `nowMs`. Resolves to the count its line carries (the events
   * since the key's last line, this one included) when this event is to be logged, else undefined.
   */
  note(key: string, nowMs: number): number | undefined {
    const seen = this.#seen.get(key);
    this.#seen.delete(key);
    if (seen !== undefined && nowMs - seen.loggedAt < this.#settings.windowMs) {
      seen.unlogged++;
      this.#seen.set(key, seen);
      return undefined;
    }
    this.#seen.set(key, { loggedAt: nowMs, unlogged: 0 });
    if (this.#seen.size > this.#settings.maxTracked) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
    return (seen?.unlogged ?? 0) + 1;
  }
}
