/** The uid's own stream; topic streams are keyed by topic name, which is never empty. */
export const UID_STREAM = '';

/** Where one stream stands. */
interface StreamState {
  /** Every seq up to here was delivered (or given up on). */
  cursor: number;
  /** Seqs above the cursor, delivered out of order, waiting for the hole below them to fill. */
  readonly ahead: Set<number>;
  /** The server said nothing up to here can be replayed any more: resume from here at the least. */
  floor: number;
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
   * Per stream, the server's epoch its seqs belong to. Kept apart from the seqs: the first
   * message of a topic may name it before the stream has a place.
   */
  readonly #epochs = new Map<string, string>();
  readonly #steppedOver?: (name: string, seq: number) => void;

  /**
   * @param max ids remembered, and seqs held above a hole before the hole is given up on; at most 10,000.
   * @param since seq of the uid stream already delivered in an earlier session, if the app kept it.
   * @param epoch the epoch that seq was taken in, if the app kept it.
   * @param steppedOver told when a hole is stepped over, with the stream and its highest seq held:
   *   the seqs of the hole are given up on, and no resume will ask for them again.
   */
  constructor(
    max: number,
    since?: number,
    epoch?: string,
    steppedOver?: (name: string, seq: number) => void,
  ) {
    // At most 10,000: the seqs held above a hole are spread into Math.min and Math.max, and a
    // spread of a few hundred thousand overflows the call stack.
    this.#max = Math.min(max, 1e4);
    if (since !== undefined) this.#streams.set(UID_STREAM, stream(since));
    if (epoch !== undefined) this.#epochs.set(UID_STREAM, epoch);
    this.#steppedOver = steppedOver;
  }

  /** Starts a stream at a seq delivered in an earlier session, unless it already has a place. */
  start(name: string, since: number, epoch?: string): void {
    if (this.#streams.has(name)) return;
    this.#streams.set(name, stream(since));
    if (epoch !== undefined) this.#epochs.set(name, epoch);
  }

  /** The epoch the stream's seqs belong to; `undefined` until the server named one. */
  epoch(name: string): string | undefined {
    return this.#epochs.get(name);
  }

  /** Notes the epoch of a stream that had none (a first message, or a cursor kept without one). */
  adopt(name: string, epoch: string): void {
    this.#epochs.set(name, epoch);
  }

  /** Where a resume of the stream should start; `undefined` before its first seq. */
  cursor(name: string): number | undefined {
    const state = this.#streams.get(name);
    if (!state) return undefined;
    let from = Math.max(state.cursor, state.floor);
    while (state.ahead.has(from + 1)) from++;
    return from;
  }

  /**
   * Records a message; true the first time it is seen, false for a repeat. A repeated id under a
   * seq not seen yet (a retried publish logs its message again under a new seq when its stream was
   * reset in between, or its first attempt died before recording the seq it took) still counts
   * that seq as delivered: the cursor would otherwise stop below it, and a later resume from it
   * replay what the app already showed.
   */
  accept(id: string, seq?: number, name = UID_STREAM): boolean {
    const repeated = this.#ids.has(id);
    if (seq !== undefined) {
      let state = this.#streams.get(name);
      // The first seq a fresh stream sees is its baseline: nothing older is owed to this client.
      if (!state) {
        state = stream(seq - 1);
        this.#streams.set(name, state);
      }
      if (seq <= state.cursor || state.ahead.has(seq)) return false;
      state.ahead.add(seq);
      // Too many waiting above a hole: the hole is not coming back, so step over it.
      if (state.ahead.size > this.#max) {
        const below = Math.min(...state.ahead) - 1;
        // Lost only above what the server's own `gap` gave up already (always above the cursor,
        // or the drain below would have taken the lowest seq held).
        if (below > state.floor) this.#steppedOver?.(name, seq);
        state.cursor = below;
      }
      drain(state);
    }
    if (repeated) return false;
    this.#ids.add(id);
    if (this.#ids.size > this.#max) this.#ids.delete(this.#ids.values().next().value as string);
    return true;
  }

  /**
   * The server said its log no longer reaches back to the cursor and its latest seq is `latest`:
   * later resumes start from there. The cursor itself stays, because `latest` may count seqs the
   * server has allocated but not yet stored or delivered; those are still welcome when they come.
   * If they never do, the held seqs above the hole reach `max` and the hole is stepped over.
   *
   * A `resumed` without a gap changes nothing, for the same reason.
   */
  skipGap(latest: number, name = UID_STREAM): void {
    const state = this.#streams.get(name);
    if (state) state.floor = Math.max(state.floor, latest);
  }

  /**
   * The highest seq of the stream known here: delivered, held above a hole, or stepped over at a
   * gap; `undefined` before its first seq.
   */
  highest(name: string): number | undefined {
    const state = this.#streams.get(name);
    if (!state) return undefined;
    return Math.max(state.cursor, state.floor, ...state.ahead);
  }

  /**
   * The server's stream was reset and now stands at `latest` of `epoch` (none when its counter is
   * gone): start over from there, so its new seqs are not mistaken for repeats of the old ones.
   */
  reset(latest: number, name = UID_STREAM, epoch?: string): void {
    this.#streams.set(name, stream(latest));
    if (epoch === undefined) this.#epochs.delete(name);
    else this.#epochs.set(name, epoch);
  }

  /** Forgets a stream (its topic was unsubscribed), so memory stays bounded by live subscriptions. */
  forget(name: string): void {
    this.#streams.delete(name);
    this.#epochs.delete(name);
  }
}

function stream(cursor: number): StreamState {
  return { cursor, ahead: new Set(), floor: cursor };
}

function drain(state: StreamState): void {
  while (state.ahead.delete(state.cursor + 1)) state.cursor++;
}
