import { LIMITS } from '../shared/limits';

/** Waits `ms` on a timer: the sleep every injectable `sleep` defaults to. */
export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Options for {@link fullJitterDelay}. */
export interface BackoffOptions {
  /** Delay scale of the first retry, in ms. @default LIMITS.sendBackoffBaseMs (50) */
  readonly baseMs?: number;
  /** Upper bound of any delay, in ms. @default LIMITS.sendBackoffCapMs (2,000) */
  readonly capMs?: number;
}

/**
 * "Full jitter" backoff: a uniform delay in `[0, min(cap, base * 2^attempt))`.
 * `attempt` counts retries from 0; `random` is injectable for tests.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const base = options.baseMs ?? LIMITS.sendBackoffBaseMs;
  const cap = options.capMs ?? LIMITS.sendBackoffCapMs;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}
