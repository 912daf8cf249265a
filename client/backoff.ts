/**
 * Reconnect delay with "full jitter": uniform in `[0, min(capMs, baseMs * 2^attempt))`.
 *
 * Full jitter spreads a crowd of clients that lost the same server over the whole window, so they
 * do not come back in lockstep. `attempt` counts failures from 0; `random` is injectable for tests.
 *
 * @example
 * backoffDelay(3, () => 0.5, 1000, 30_000) // 4000
 */
export function backoffDelay(attempt: number, random: () => number, baseMs: number, capMs: number): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}
