/**
 * A counting semaphore: at most `limit` holders at once, the rest wait in arrival order.
 * It is what keeps in-process handler invocations bounded, as a Lambda concurrency limit would.
 */
export class Semaphore {
  readonly #limit: number;
  readonly #waiting: (() => void)[] = [];
  #held = 0;
  #peak = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  /** Holders right now. */
  get held(): number {
    return this.#held;
  }

  /** Most holders ever at once. */
  get peak(): number {
    return this.#peak;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves once a slot is held; call the returned function exactly once to free it. */
  async acquire(): Promise<() => void> {
    if (this.#held >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#held++;
    }
    this.#peak = Math.max(this.#peak, this.#held);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so `held` never dips and overshoots.
      if (next !== undefined) next();
      else this.#held--;
    };
  }
}
