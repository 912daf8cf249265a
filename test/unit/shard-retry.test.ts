import { describe, expect, it } from 'vitest';
import { shardRetryDelaySeconds } from '../../lambdas/core/shard-retry';
import { LIMITS } from '../../lambdas/shared/limits';

/** The deployed defaults: late after 10 min (twice the 5-min worker timeout), 5 receives. */
const DEFAULTS = { lateAfterMs: LIMITS.shardJobLateMs, maxReceiveCount: LIMITS.shardMaxReceiveCount };
const LOWEST = () => 0;
const HIGHEST = () => 0.9999;

describe('shardRetryDelaySeconds: how long a failed shard job stays hidden', () => {
  it.each([
    ['the first failure, at the defaults', 1, DEFAULTS, 10, 19],
    ['the second failure: twice as long', 2, DEFAULTS, 20, 39],
    ['the third: the cap, 600 s / 2 / 4 retries = 75 s', 3, DEFAULTS, 37, 74],
    ['the fourth: still the cap', 4, DEFAULTS, 37, 74],
    ['a receive count past maxReceiveCount (throttled polls count too)', 9, DEFAULTS, 37, 74],
    ['no receive count: taken as the first', Number.NaN, DEFAULTS, 10, 19],
    ['a receive count of 0: taken as the first', 0, DEFAULTS, 10, 19],
    ['a late age of 20 min: the cap is 150 s', 4, { lateAfterMs: 20 * 60_000, maxReceiveCount: 5 }, 75, 149],
    [
      '100 receives share the same 5 min: about 3 s each',
      1,
      { lateAfterMs: LIMITS.shardJobLateMs, maxReceiveCount: 100 },
      1,
      3,
    ],
    ['every job late (a late age of 0): 1 s, never at once', 3, { lateAfterMs: 0, maxReceiveCount: 5 }, 1, 1],
    [
      'one receive only: the delay says when it moves to the DLQ',
      1,
      { lateAfterMs: LIMITS.shardJobLateMs, maxReceiveCount: 1 },
      10,
      19,
    ],
    [
      'a late age of a day: never past shardRetryCapMs (5 min)',
      10,
      { lateAfterMs: 86_400_000, maxReceiveCount: 3 },
      150,
      299,
    ],
  ])('%s: receive %d waits %j → %d to %d s', (_, receiveCount, settings, lowest, highest) => {
    expect(shardRetryDelaySeconds(receiveCount, settings, LOWEST)).toBe(lowest);
    expect(shardRetryDelaySeconds(receiveCount, settings, HIGHEST)).toBe(highest);
  });

  it.each([
    [LIMITS.shardJobLateMs, 5],
    [LIMITS.shardJobLateMs, 2],
    [LIMITS.shardJobLateMs, 30],
    [4 * 60_000, 5],
    [30 * 60_000, 10],
    [2 * 3_600_000, 1000],
  ])(
    'keeps the longest waits of every retry a job gets within half its late age (%d ms, %d receives)',
    (lateAfterMs, maxReceiveCount) => {
      let waited = 0;
      for (let receive = 1; receive < maxReceiveCount; receive++) {
        waited += shardRetryDelaySeconds(receive, { lateAfterMs, maxReceiveCount }, HIGHEST);
      }
      expect(waited * 1000).toBeLessThanOrEqual(lateAfterMs / 2);
    },
  );
});
