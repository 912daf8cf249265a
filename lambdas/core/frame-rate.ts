import { LIMITS } from '../shared/limits';

/**
 * One connection's frame allowance in one Lambda environment: a token bucket of `burst` frames,
 * refilled at `perSecond`, and what happens once it is empty (see {@link FrameRate}).
 */
export interface FrameRateSettings {
  /** Frames a connection may send at once (the bucket's capacity). */
  readonly burst: number;
  /** Frames per second the bucket refills with: the sustained rate a connection may keep up. */
  readonly perSecond: number;
  /**
   * Refused frames, counted since the connection's bucket was last full, at which the connection
   * is closed: it went on sending well after it was told to slow down.
   */
  readonly refusalsToClose: number;
  /** Connections tracked at once; past it the least recently seen is forgotten. @default LIMITS.frameRateTrackedConnections */
  readonly maxTracked?: number;
}

/**
 * What to do with one frame: run it, answer it `rate_limited` without running it, or close the
 * connection. `refusals` counts the refused frames since the bucket was last full, this one
 * included (1 for the first refusal of a flood).
 */
export type FrameVerdict =
  | { readonly verdict: 'allowed' }
  | { readonly verdict: 'refused'; readonly refusals: number }
  | { readonly verdict: 'close'; readonly refusals: number };

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, in ms. */
  at: number;
  /** Frames refused since the bucket was last full. */
  refusals: number;
}

const ALLOWED: FrameVerdict = { verdict: 'allowed' };

/**
 * Per-connection token buckets, kept in the memory of one Lambda environment: no DynamoDB write
 * per frame. A refused frame costs no token, so a client that slows down is served again as soon
 * as a token is back. Refusals are forgiven only once the bucket is full again, which a client
 * that backs off reaches and one that keeps sending at or above the refill rate never does: its
 * refusals add up until they reach `refusalsToClose`, and the verdict is `close`. It is `close`
 * again at every further `refusalsToClose` refusals (frames already on their way when it was
 * closed are refused cheaply, and a close that failed is tried again).
 *
 * The map is bounded: past `maxTracked` connections, the least recently seen one is forgotten (a
 * `Map` keeps insertion order, and a seen connection is moved to its end), so a crowd of
 * connections cannot grow the environment's memory. A forgotten connection starts again with a
 * full bucket: eviction can only favour it.
 *
 * @example
 * const limiter = new FrameRate({ burst: 250, perSecond: 10, refusalsToClose: 500 });
 * if (limiter.check(connectionId, Date.now()).verdict !== 'allowed') { ... }
 */
export class FrameRate {
  /** The settings it was made with: what a refused frame is told. */
  readonly settings: FrameRateSettings;
  readonly #burst: number;
  readonly #perMs: number;
  readonly #refusalsToClose: number;
  readonly #maxTracked: number;
  readonly #buckets = new Map<string, Bucket>();
  /** Keys whose close is under way in this environment (see {@link closing}). */
  readonly #closing = new Set<string>();

  constructor(settings: FrameRateSettings) {
    for (const [name, value] of Object.entries(settings)) {
      if (value === undefined) continue;
      if (!(Number.isFinite(value) && value > 0))
        throw new RangeError(`${name} must be positive, got ${value}`);
    }
    this.settings = settings;
    this.#burst = settings.burst;
    this.#perMs = settings.perSecond / 1000;
    this.#refusalsToClose = settings.refusalsToClose;
    this.#maxTracked = settings.maxTracked ?? LIMITS.frameRateTrackedConnections;
  }

  /** Connections currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one frame of `key` at `nowMs` into account and says what to do with it. The key is a
   * connection id for a connection's allowance, a uid for the allowance its connections share.
   */
  check(key: string, nowMs: number): FrameVerdict {
    const bucket = this.#seen(key, nowMs);
    // A clock that steps back refills nothing, and does not move `at` back either.
    const elapsed = Math.max(0, nowMs - bucket.at);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + elapsed * this.#perMs);
    bucket.at = Math.max(bucket.at, nowMs);
    if (bucket.tokens >= this.#burst) bucket.refusals = 0;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    bucket.refusals += 1;
    const refusals = bucket.refusals;
    return refusals % this.#refusalsToClose === 0 && !this.#closing.has(key)
      ? { verdict: 'close', refusals }
      : { verdict: 'refused', refusals };
  }

  /**
   * Forgets `key`'s bucket: its next frame starts with a full one. For a uid whose connections
   * were all closed for flooding: by the end of its cool-off its bucket would have refilled only
   * in part, and the reconnect of every connection at once, which the burst is sized for, would
   * meet the next refusals and close them all again, over and over.
   */
  forget(key: string): void {
    this.#buckets.delete(key);
    this.#closing.delete(key);
  }

  /**
   * Says the close of `key` is under way: until {@link forget}, its frames are at most `refused`,
   * never `close`. A uid's connections keep flooding while its close reads the index and closes
   * them one by one; each further `refusalsToClose` refusals meanwhile would start a second close
   * of the same connections, which would find them closing, count none of them, and split the
   * count the close reports between the two.
   */
  closing(key: string): void {
    this.#closing.add(key);
  }

  /** The connection's bucket, moved to the most recently seen end; a new one evicts the least recent. */
  #seen(connectionId: string, nowMs: number): Bucket {
    const known = this.#buckets.get(connectionId);
    if (known !== undefined) {
      this.#buckets.delete(connectionId);
      this.#buckets.set(connectionId, known);
      return known;
    }
    while (this.#buckets.size >= this.#maxTracked) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest === undefined) break;
      this.#buckets.delete(oldest);
    }
    const fresh: Bucket = { tokens: this.#burst, at: nowMs, refusals: 0 };
    this.#buckets.set(connectionId, fresh);
    return fresh;
  }
}

/**
 * What a frame refused for its connection's rate is told (the README quotes it).
 *
 * @example
 * frameRateMessage({ burst: 250, perSecond: 10, refusalsToClose: 500 })
 * // 'too many frames from this connection (250 at once, then 10 per second); frames refused: slow down, or the connection is closed'
 */
export function frameRateMessage(settings: Pick<FrameRateSettings, 'burst' | 'perSecond'>): string {
  return (
    `too many frames from this connection (${settings.burst} at once, then ${settings.perSecond} per second); ` +
    'frames refused: slow down, or the connection is closed'
  );
}

/**
 * What a frame refused for its uid's shared rate is told (the README quotes it): each of the uid's
 * connections kept to its own allowance, but together they sent more than one uid may.
 *
 * @example
 * uidFrameRateMessage({ burst: 4040, perSecond: 20 })
 * // "too many frames from this uid's connections together (4040 at once, then 20 per second); frames refused: slow down, or the uid's connections are closed"
 */
export function uidFrameRateMessage(settings: Pick<FrameRateSettings, 'burst' | 'perSecond'>): string {
  return (
    `too many frames from this uid's connections together (${settings.burst} at once, then ${settings.perSecond} per second); ` +
    "frames refused: slow down, or the uid's connections are closed"
  );
}
