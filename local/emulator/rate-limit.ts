/**
 * A token bucket: `ratePerSecond` requests per second with a one-second burst. It backs the
 * `@connections` throttle switch, so callers can be tested against `LimitExceededException`.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  #tokens: number;
  #updatedAt: number;

  constructor(ratePerSecond: number, now = performance.now()) {
    if (!(ratePerSecond > 0)) throw new RangeError(`rate must be positive, got ${ratePerSecond}`);
    this.ratePerSecond = ratePerSecond;
    this.#tokens = ratePerSecond;
    this.#updatedAt = now;
  }

  /** Takes one token; false when the bucket is empty (the request is throttled). */
  take(now = performance.now()): boolean {
    const elapsed = Math.max(0, now - this.#updatedAt) / 1000;
    this.#tokens = Math.min(this.ratePerSecond, this.#tokens + elapsed * this.ratePerSecond);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
