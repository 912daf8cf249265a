import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../lambdas/core/backoff';
import { expiresAtFor, isLive } from '../../lambdas/core/expiry';
import { concurrencyLimit, forEachBounded } from '../../lambdas/core/pool';
import { shardOf } from '../../lambdas/core/shard';

const HOUR = 3600;

describe('expiry', () => {
  it.each([
    [0, 2 * HOUR + 300],
    [1_000, 1 + 2 * HOUR + 300],
    [1_001, 2 + 2 * HOUR + 300],
  ])('a record last seen at %i ms expires at %i s', (lastSeen, expected) => {
    expect(expiresAtFor(lastSeen)).toBe(expected);
  });

  const t0 = 1_700_000_000_000;
  it.each([
    ['fresh', { connectedAt: t0, expiresAt: expiresAtFor(t0) }, t0 + 1000, true],
    ['past its TTL', { connectedAt: t0, expiresAt: expiresAtFor(t0) }, expiresAtFor(t0) * 1000, false],
    [
      'pinged but past the 2 h ceiling plus margin',
      { connectedAt: t0, expiresAt: expiresAtFor(t0 + 2 * HOUR * 1000) },
      t0 + (2 * HOUR + 301) * 1000,
      false,
    ],
    [
      'pinged and within the ceiling',
      { connectedAt: t0, expiresAt: expiresAtFor(t0 + HOUR * 1000) },
      t0 + (2 * HOUR + 200) * 1000,
      true,
    ],
  ])('a record %s is live: %s', (_label, record, now, expected) => {
    expect(isLive(record, now)).toBe(expected);
  });
});

describe('fullJitterDelay', () => {
  it.each([
    [0, 0.999, 49],
    [1, 0.5, 50],
    [3, 0.5, 200],
    [10, 0.999, 1998],
    [10, 0, 0],
  ])('retry %i with random %f waits %i ms', (attempt, random, expected) => {
    expect(fullJitterDelay(attempt, {}, () => random)).toBe(expected);
  });

  it('respects a configured cap', () => {
    expect(fullJitterDelay(20, { baseMs: 10, capMs: 100 }, () => 0.999)).toBe(99);
  });
});

describe('shardOf', () => {
  it('is stable and spreads ids over every shard', () => {
    expect(shardOf('Abc123=')).toBe(shardOf('Abc123='));
    const seen = new Set(Array.from({ length: 2000 }, (_, i) => shardOf(`conn-${i}`)));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it.each([
    ['a', 4],
    ['', 4],
    ['ZQ4w6eC1IAMCJbA=', 16],
  ])('keeps %j within %i shards', (id, shards) => {
    const shard = shardOf(id, shards);
    expect(shard).toBeGreaterThanOrEqual(0);
    expect(shard).toBeLessThan(shards);
  });
});

describe('forEachBounded', () => {
  it('starts nothing after a rejection, lets running calls finish, then rethrows the first', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const down = new Error('down');
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const run = forEachBounded([0, 1, 2, 3], 2, async (i) => {
      started.push(i);
      if (i === 0) await slow;
      if (i === 1) throw down;
      finished.push(i);
    });
    let settled = false;
    void run
      .catch(() => {})
      .finally(() => {
        settled = true;
      });
    await new Promise((resolve) => setImmediate(resolve));
    // Item 1 failed while item 0 still runs: the call has not settled, and nothing new started.
    expect(settled).toBe(false);
    expect(started).toEqual([0, 1]);
    releaseSlow();
    await expect(run).rejects.toBe(down);
    expect(finished).toEqual([0]);
  });

  it('never runs more than the bound at once and visits every item', async () => {
    let inFlight = 0;
    let peak = 0;
    const visited: number[] = [];
    await forEachBounded(
      Array.from({ length: 50 }, (_, i) => i),
      7,
      async (i) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await Promise.resolve();
        await new Promise((r) => setImmediate(r));
        visited.push(i);
        inFlight--;
      },
    );
    expect(peak).toBe(7);
    expect(visited.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('does nothing for no items', async () => {
    await expect(forEachBounded([], 4, async () => {})).resolves.toBeUndefined();
  });
});

describe('concurrencyLimit', () => {
  it('runs at most the limit at once across all callers, in the order they asked', async () => {
    const limit = concurrencyLimit(2);
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    const task = (i: number) => async () => {
      order.push(i);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      if (i === 3) throw new Error('three');
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => limit(task(i))));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
  });
});
