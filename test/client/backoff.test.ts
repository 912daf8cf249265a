import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../client/backoff';

describe('backoffDelay', () => {
  it.each([
    // attempt, random, base, cap, expected
    [0, 0, 1000, 30_000, 0],
    [0, 0.5, 1000, 30_000, 500],
    [0, 0.999, 1000, 30_000, 999],
    [1, 0.5, 1000, 30_000, 1000],
    [2, 0.5, 1000, 30_000, 2000],
    [3, 0.25, 1000, 30_000, 2000],
    [4, 0.5, 1000, 30_000, 8000],
    [5, 0.5, 1000, 30_000, 15_000],
    [6, 0.5, 1000, 30_000, 15_000],
    [6, 0.999, 1000, 30_000, 29_970],
    [3, 0.5, 100, 500, 250],
  ])(
    'after %i failures with random %f (base %i, cap %i) waits %i ms',
    (attempt, random, base, cap, expected) => {
      expect(backoffDelay(attempt, () => random, base, cap)).toBe(expected);
    },
  );

  it('stays below the cap however many attempts have failed', () => {
    for (const attempt of [10, 50, 1023, 5000]) {
      expect(backoffDelay(attempt, () => 0.999_999, 1000, 30_000)).toBeLessThan(30_000);
    }
  });
});
