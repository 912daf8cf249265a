/** The bench's cost model (scripts/bench/cost.ts): CPU stretched by the memory's vCPU share. */
import { describe, expect, it } from 'vitest';
import {
  type CostInputs,
  deliveriesPerSecondAt,
  durationAt,
  perMillionPushes,
} from '../../scripts/bench/cost';

const inputs: CostInputs = {
  publishMs: 35,
  pingMs: 1,
  authorizerMs: 0.3,
  connectMs: 1,
  disconnectMs: 2,
  readUnitsPerPush: 0.5,
  writesPerPush: 2,
  baselineReadUnitsPerPush: 128,
  baselineConnections: 10_000,
  publishCpuMs: 8,
  fanOutCpuPerDeliveryMs: 0.5,
};

describe('durationAt', () => {
  it.each([
    // wall, cpu, MB → ms
    [35, 8, 1769, 35],
    [35, 8, 3538, 35],
    [35, 8, 884.5, 43],
    [35, 8, 442.25, 59],
    [10, 40, 884.5, 20],
  ])('wall %d ms with %d ms CPU at %d MB takes %d ms', (wall, cpu, mb, expected) => {
    expect(durationAt(wall, cpu, mb)).toBeCloseTo(expected, 6);
  });
});

describe('deliveriesPerSecondAt', () => {
  it.each([
    [0.5, 1769, 2000],
    [0.5, 884.5, 1000],
    [0.5, 4000, 2000],
  ])('%d ms CPU per delivery at %d MB allows %d/s', (cpu, mb, expected) => {
    expect(deliveriesPerSecondAt(cpu, mb)).toBeCloseTo(expected, 6);
  });
});

describe('perMillionPushes', () => {
  it('prices the publish duration unstretched as the lower bound and stretched as the upper', () => {
    const low = perMillionPushes(inputs, 512, false);
    const high = perMillionPushes(inputs, 512, true);
    expect(low.durationMs).toBe(35);
    expect(high.durationMs).toBeCloseTo(35 + 8 * (1769 / 512 - 1), 6);
    // 1M × 35 ms × 0.5 GB × $0.0000133334 per GB-s
    expect(low.lambdaDuration).toBeCloseTo(0.2333345, 6);
    expect(high.goalTotal - low.goalTotal).toBeCloseTo(high.lambdaDuration - low.lambdaDuration, 9);
    expect(low.apiGatewayMessages).toBeCloseTo(1, 9);
    expect(low.logWrites).toBeCloseTo(1.25, 9);
  });
});
