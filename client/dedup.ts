/** The uid's own stream; topic streams are keyed by topic name, which is never empty. */
export const UID_STREAM = '';

/** Where one stream stands: every seq up to `cursor` delivered, plus the seqs seen beyond it. */
interface StreamState {
  cursor: number;
  /** Seqs above the cursor, delivered out of order, waiting for the hole below them to fill. */
  readonly ahead: Set<number>;
}

/**
 * Remembers which messages were delivered, in bounded memory, so none is delivered twice.
 *
 * Two keys, because they fail differently:
 * - `id`: every message has one. The last `max` ids are kept, oldest forgotten first.
 * - `seq`: logged messages carry a number that increases along their stream (the uid's own, or a
 *   topic's that keeps history). Per stream, a contiguous cursor (every seq up to it delivered) plus
 *   the seqs seen beyond it cover any age, which the id window cannot. The cursor is also where a
 *   resume asks the server to replay from: tracking holes instead of the highest seq seen means a
 *   message that overtook another cannot hide the slower one from a resume.
 */
export class Dedup {
  readonly #max: number;
  readonly #ids = new Set<string>();
  readonly #streams = new Map<string, StreamState>();

  /**
   * @param max ids remembered, and seqs held above a hole before the hole is given up on.
   * @param since seq of the uid stream already delivered in an earlier session, if the app kept it.
   */
  constructor(max: number, since?: number) {
    this.#max = max;
    if (since !== undefined) this.#streams.set(UID_STREAM, { cursor: since, ahead: new Set() });
  }

  /** Highest seq of a stream up to which every message was delivered; `undefined` before its first. */
  cursor(stream: string): number | undefined {
    return this.#streams.get(stream)?.cursor;
  }

  /** Records a message; true the first time it is seen, false for a repeat. */
  accept(id: string, seq?: number, stream = UID_STREAM): boolean {
    if (this.#ids.has(id)) return false;
    if (seq !== undefined) {
      let state = this.#streams.get(stream);
      // The first seq a fresh stream sees is its baseline: nothing older is owed to this client.
      if (!state) {
        state = { cursor: seq - 1, ahead: new Set() };
        this.#streams.set(stream, state);
      }
      if (seq <= state.cursor || state.ahead.has(seq)) return false;
      state.ahead.add(seq);
      // Too many waiting above a hole: the hole is not coming back, so step over it.
      if (state.ahead.size > this.#max) state.cursor = Math.min(...state.ahead) - 1;
      drain(state);
    }
    this.#ids.add(id);
    if (this.#ids.size > this.#max) this.#ids.delete(this.#ids.values().next().value as string);
    return true;
  }

  /** The server replayed a stream up to `seq` (or said it cannot reach back): the cursor moves there. */
  advance(seq: number, stream = UID_STREAM): void {
    const state = this.#streams.get(stream);
    if (!state) {
      this.#streams.set(stream, { cursor: seq, ahead: new Set() });
      return;
    }
    if (seq > state.cursor) state.cursor = seq;
    for (const held of state.ahead) if (held <= seq) state.ahead.delete(held);
    drain(state);
  }

  /** Forgets a stream (its topic was unsubscribed), so memory stays bounded by live subscriptions. */
  forget(stream: string): void {
    this.#streams.delete(stream);
  }
}

function drain(state: StreamState): void {
  while (state.ahead.delete(state.cursor + 1)) state.cursor++;
}
