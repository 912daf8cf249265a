/**
 * The pure parts of the emulator's switches: how a fault draw maps onto answers, what the switch
 * refuses, and the `@connections` token bucket's burst.
 */
import { describe, expect, it } from 'vitest';
import {
  drawManagementFault,
  EmulatorFaults,
  type ManagementFaults,
  validateManagementFaults,
} from '../../local/emulator/faults';
import { TokenBucket } from '../../local/emulator/rate-limit';

/** A random source that returns `values` in order and fails the test if asked for more. */
function sequence(...values: number[]): () => number {
  return () => {
    const next = values.shift();
    if (next === undefined) throw new Error('random called more often than expected');
    return next;
  };
}

describe('drawManagementFault', () => {
  // Binary fractions, so the boundaries are exact: 429 below 0.125, 500 below 0.375, 410 below 0.625.
  const rates = { throttleRate: 0.125, errorRate: 0.25, goneRate: 0.25 };

  it.each([
    [0, 'throttle'],
    [0.124, 'throttle'],
    [0.125, 'error'],
    [0.374, 'error'],
    [0.375, 'gone'],
    [0.624, 'gone'],
    [0.625, undefined],
    [0.999, undefined],
  ] as const)('maps a draw of %d to %s', (r, answer) => {
    expect(drawManagementFault({ ...rates, random: sequence(r) })).toEqual(
      answer === undefined ? { delayMs: 0 } : { delayMs: 0, answer },
    );
  });

  it('draws nothing when every rate is zero and no delay is set', () => {
    expect(drawManagementFault({ random: sequence() })).toEqual({ delayMs: 0 });
  });

  it('delays every post without a second draw when delayRate is left at 1', () => {
    expect(drawManagementFault({ goneRate: 1, delayMs: 30, random: sequence(0.5) })).toEqual({
      delayMs: 30,
      answer: 'gone',
    });
  });

  it('takes a second draw for the delay when delayRate is below 1', () => {
    const faults: ManagementFaults = { delayMs: 30, delayRate: 0.25 };
    expect(drawManagementFault({ ...faults, random: sequence(0.2) })).toEqual({ delayMs: 30 });
    expect(drawManagementFault({ ...faults, random: sequence(0.25) })).toEqual({ delayMs: 0 });
  });
});

describe('validateManagementFaults', () => {
  it.each([
    [{ throttleRate: -0.1 }, 'faults.management.throttleRate must be within 0..1, got -0.1'],
    [{ errorRate: 1.5 }, 'faults.management.errorRate must be within 0..1, got 1.5'],
    [{ goneRate: Number.NaN }, 'faults.management.goneRate must be within 0..1, got NaN'],
    [{ delayRate: 2 }, 'faults.management.delayRate must be within 0..1, got 2'],
    [{ throttleRate: 0.6, goneRate: 0.5 }, 'faults.management rates add up to 1.1; at most 1 is possible'],
    [{ delayMs: -1 }, 'faults.management.delayMs must be a non-negative number, got -1'],
  ])('refuses %j', (faults, message) => {
    expect(() => validateManagementFaults(faults)).toThrow(new RangeError(message));
  });

  it('accepts rates that add up to exactly 1 despite floating point', () => {
    const faults = { throttleRate: 0.1, errorRate: 0.2, goneRate: 0.7 };
    expect(validateManagementFaults(faults)).toBe(faults);
  });

  it('checks the switch when it is set, so a bad value never takes effect', () => {
    const faults = new EmulatorFaults();
    faults.management = { goneRate: 0.5 };
    expect(() => {
      faults.management = { goneRate: 5 };
    }).toThrow(RangeError);
    expect(faults.management).toEqual({ goneRate: 0.5 });
    faults.management = undefined;
    expect(faults.management).toBeUndefined();
  });
});

describe('TokenBucket burst', () => {
  it('lets a burst through at once, then exactly the rate', () => {
    const bucket = new TokenBucket(10, 0, 3);
    expect([0, 0, 0, 0].map((t) => bucket.take(t))).toEqual([true, true, true, false]);
    // 10/s refills one token every 100 ms, never beyond the burst.
    expect(bucket.take(99)).toBe(false);
    expect(bucket.take(100)).toBe(true);
    expect([10_000, 10_000, 10_000, 10_000].map((t) => bucket.take(t))).toEqual([true, true, true, false]);
  });

  it('keeps at least one token, so a rate below 1/s still lets requests through', () => {
    const bucket = new TokenBucket(0.5, 0);
    expect(bucket.burst).toBe(1);
    expect([bucket.take(0), bucket.take(1_999), bucket.take(2_000)]).toEqual([true, false, true]);
  });

  it('never passes more than burst + rate × t requests in a window of t seconds', () => {
    const bucket = new TokenBucket(100, 0, 20);
    // A caller hammering every millisecond for 3 s.
    const passed = Array.from({ length: 3_000 }, (_, t) => (bucket.take(t) ? t : -1)).filter((t) => t >= 0);
    for (const start of [0, 500, 1_000, 1_999]) {
      const inWindow = passed.filter((t) => t >= start && t < start + 1_000).length;
      expect(inWindow).toBeLessThanOrEqual(20 + 100);
    }
    expect(passed).toHaveLength(20 + 100 * 3 - 1);
  });
});
