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
