/**
 * The bench's cost model (scripts/bench/cost.ts): CPU stretched by the memory's vCPU share, and
 * uid pushes priced one per invocation and in batch publishes.
 */
import { describe, expect, it } from 'vitest';
import {
  type CostInputs,
  costMarkdown,
  deliveriesPerSecondAt,
  durationAt,
  perMillionBatchedPushes,
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

describe('perMillionBatchedPushes', () => {
  // 1M pushes: $1.00 of messages and $0.0625 of reads (0.5 RRU) whatever the batching.
  it.each([
    // size, batch ms, batch CPU ms, MB, stretched → billed ms per batch, requests $, duration $, goal total $
    [10, 40, 30, 512, false, 40, 0.02, 0.0266668, 1.1091668],
    // 40 + 30 × (1769 / 512 − 1) = 113.65 → 114 ms
    [10, 40, 30, 512, true, 114, 0.02, 0.07600038, 1.15850038],
    [10, 40, 30, 256, false, 40, 0.02, 0.0133334, 1.0958334],
    // 40 + 30 × (1769 / 128 − 1) = 424.61 → 425 ms
    [10, 40, 30, 128, true, 425, 0.02, 0.0708336875, 1.1533336875],
    // CPU above the wall time stretches only the wall time: 20 + 20 × 2.455 = 69.1 → 70 ms
    [10, 20, 50, 512, true, 70, 0.02, 0.0466669, 1.1291669],
    // billed in whole ms per batch, not per push: 40.2 → 41 ms
    [10, 40.2, 0, 512, false, 41, 0.02, 0.02733347, 1.10983347],
    [5, 40, 30, 512, false, 40, 0.04, 0.0533336, 1.1558336],
  ])(
    'batches of %d taking %d ms with %d ms CPU at %d MB (stretched: %s) bill %d ms, $%d requests, $%d duration, $%d in all',
    (size, ms, cpuMs, mb, stretched, billedMs, requests, duration, goal) => {
      const p = perMillionBatchedPushes(inputs, { size, ms, cpuMs }, mb, stretched);
      expect(Math.ceil(p.durationMs)).toBe(billedMs);
      expect(p.invokes).toBe(1_000_000 / size);
      expect(p.lambdaRequests).toBeCloseTo(requests, 9);
      expect(p.lambdaDuration).toBeCloseTo(duration, 9);
      expect(p.apiGatewayMessages).toBeCloseTo(1, 9);
      expect(p.dynamoReads).toBeCloseTo(0.0625, 9);
      expect(p.goalTotal).toBeCloseTo(goal, 9);
      expect(p.logWrites).toBeCloseTo(1.25, 9);
    },
  );

  it.each([
    [512, false],
    [512, true],
    [128, true],
  ])('prices a batch of one exactly as a single push at %d MB (stretched: %s)', (mb, stretched) => {
    const single = perMillionPushes(inputs, mb, stretched);
    const batchOfOne = perMillionBatchedPushes(
      inputs,
      { size: 1, ms: inputs.publishMs, cpuMs: inputs.publishCpuMs },
      mb,
      stretched,
    );
    expect(batchOfOne).toEqual(single);
  });
});

describe('costMarkdown', () => {
  const measuredOn = 'on a test machine';

  it.each([
    // batch ms, batch CPU ms → where the batched total meets the goal, lower bound, upper bound
    [40, 30, '512 MB, 256 MB and 128 MB', '512 MB, 256 MB and 128 MB'],
    // upper bound at 512 MB: 400 + 300 × 2.455 → 1,137 ms a batch, $0.758 of duration: over
    [400, 300, '512 MB, 256 MB and 128 MB', 'no size'],
  ])('says where batches of 10 taking %d ms with %d ms CPU meet the goal', (ms, cpuMs, lower, upper) => {
    const text = costMarkdown({ ...inputs, batch: { size: 10, ms, cpuMs } }, measuredOn);
    expect(text).toContain('### The same 1M deliveries sent in batch publishes of 10');
    expect(text).toContain(
      `In batches of 10 the goal is met at ${lower} on the lower bound and at ${upper} on the upper bound.`,
    );
  });

  it('prints the batched table next to the single-push one, with its own requests line', () => {
    const text = costMarkdown({ ...inputs, batch: { size: 10, ms: 40, cpuMs: 30 } }, measuredOn);
    expect(text).toContain('| Lambda requests (1 invoke per push) | $0.200 | $0.200 | $0.200 |');
    expect(text).toContain('| Lambda requests (1 invoke per 10 pushes) | $0.020 | $0.020 | $0.020 |');
    expect(text).toContain(
      '| Lambda duration, CPU at a full core (lower bound) | $0.027 (40 ms a batch) | $0.013 (40 ms a batch) | $0.007 (40 ms a batch) |',
    );
    expect(text).toContain(
      // 114, 218 and 425 ms a batch at 512, 256 and 128 MB
      "| **total of the goal's lines**, upper bound | **$1.16** (within) | **$1.16** (within) | **$1.15** (within) |",
    );
  });

  it('quotes both the single-push and the batched range for this stack against managed services', () => {
    const text = costMarkdown({ ...inputs, batch: { size: 10, ms: 40, cpuMs: 30 } }, measuredOn);
    // single: 35 ms → $1.4958 lower; 35 + 8 × 2.455 = 54.6 → 55 ms → $1.6292 upper
    expect(text).toContain(
      '| **this stack** (512 MB publish) | $1.50–$1.63 ($2.75–$2.88 with log writes); in batches of 10: $1.11–$1.16 ($2.36–$2.41 with log writes) |',
    );
  });

  it('says the batched case is not priced when the run did not measure it', () => {
    const text = costMarkdown(inputs, measuredOn);
    expect(text).toContain('This run did not measure a batch publish, so the batched case is not priced.');
    expect(text).not.toContain('in batches of');
    expect(text).toContain('| Lambda requests (1 invoke per push) |');
  });
});
