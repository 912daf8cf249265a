/**
 * A token bucket: `ratePerSecond` requests per second with a burst of `burst` (one second's worth
 * unless given). It backs the `@connections` throttle switch, so callers can be tested against
 * `LimitExceededException`, and a bench can rely on it: over any window of `t` seconds at most
 * `burst + ratePerSecond * t` requests pass. A refused request takes no token.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  #tokens: number;
  #updatedAt: number;

  constructor(ratePerSecond: number, now = performance.now(), burst = ratePerSecond) {
    if (!(ratePerSecond > 0 && Number.isFinite(ratePerSecond)))
      throw new RangeError(`rate must be positive, got ${ratePerSecond}`);
    if (!(burst > 0)) throw new RangeError(`burst must be positive, got ${burst}`);
    this.ratePerSecond = ratePerSecond;
    // Below one token nothing would ever pass (a rate of 0.5/s with a one-second burst, say).
    this.burst = Math.max(1, burst);
    this.#tokens = this.burst;
    this.#updatedAt = now;
  }

  /** Takes one token; false when the bucket is empty (the request is throttled). */
  take(now = performance.now()): boolean {
    const elapsed = Math.max(0, now - this.#updatedAt) / 1000;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.ratePerSecond);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * How long the emulator stops reading a connection whose frame was throttled or whose unsent
 * bytes are over the cap. API Gateway answers every such frame on machines of its own; one local
 * process answering a client that sends as fast as it can would spend all its CPU on that client,
 * so it lets TCP push back on the sender instead: its frames wait in the kernel's buffers, and
 * are answered (throttled or not) once read.
 */
export const HOLD_BACK_MS = 25;
/**
 * The longest hold. A connection held back again soon after its last hold ended (within twice
 * that hold) is still sending faster than it is let through, and is held twice as long, up to
 * this: a client that floods without pause is read a few times a second, so what the one process
 * spends parsing its frames stays a small share of what it spends on everyone else's publishes
 * (with a fixed 25 ms hold, a flooder on a loaded 2-core machine got 18,000 frames a second
 * parsed and pushed other clients' posts past their timeouts). A client that pauses is back to
 * {@link HOLD_BACK_MS} at its next throttle.
 */
export const MAX_HOLD_BACK_MS = 400;

/**
 * How long to hold back a connection at `now` (ms, `performance.now()`), given its last hold:
 * twice that hold, at most {@link MAX_HOLD_BACK_MS}, when it ended less than twice its length
 * ago; otherwise {@link HOLD_BACK_MS}.
 */
export function nextHoldMs(
  last: { readonly ms: number; readonly endsAt: number } | undefined,
  now: number,
): number {
  if (last === undefined || now - last.endsAt >= 2 * last.ms) return HOLD_BACK_MS;
  return Math.min(2 * last.ms, MAX_HOLD_BACK_MS);
}
