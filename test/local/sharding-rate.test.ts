/**
 * The rate budget: shard workers split `rateBudget` over `workerConcurrency`, each with the token
 * bucket of its own execution environment, so all of them together never deliver faster than the
 * budget plus their bursts. Measured from the emulator's arrival time of every delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { virtualConnections } from '../support/virtual';
import { postJson, startTestStack, WAIT_MS } from './helpers';

const BUDGET = 100;
const WORKERS = 2;
/** The worker's bucket holds a tenth of a second of its share (lambdas/core/rate.ts). */
const BURST = WORKERS * Math.ceil(BUDGET / WORKERS / 10);
const CONNECTIONS = 150;
/**
 * Deliveries are timed when they reach the emulator, not when the worker took its token, and the
 * way there (HTTP on a shared 2-core machine) varies. A spread of up to this many milliseconds can
 * bunch deliveries into one window: at most BUDGET × this / 1000 more of them.
 */
const TRANSIT_SPREAD_MS = 300;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({ shardThreshold: 5, rateBudget: BUDGET, workerConcurrency: WORKERS });
});

afterAll(async () => {
  await stack?.stop();
});

/** The most arrivals within any window of `windowMs`. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe('the rate budget', () => {
  it('keeps every one-second window of a sharded publish within the budget plus the bursts', async () => {
    const ids = await virtualConnections(stack).add(CONNECTIONS, { topics: ['news'], shardSpread: 4 });

    const answer = await postJson(stack, '/publish', { to: { topic: 'news' }, data: 'x', id: 'rated-1' });
    await stack.shardQueue.whenDrained(WAIT_MS * 2);

    expect(answer.body).toEqual({ id: 'rated-1', queued: true, shards: 4 });
    expect(ids.every((id) => virtualConnections(stack).deliveriesTo(id) === 1)).toBe(true);
    const times = virtualConnections(stack).deliveryTimes();
    expect(times).toHaveLength(CONNECTIONS);
    const limit = BUDGET + BURST + (BUDGET * TRANSIT_SPREAD_MS) / 1000;
    expect(busiestWindow(times, 1_000)).toBeLessThanOrEqual(limit);
    // The same bound over the whole run: the last delivery cannot come sooner than this.
    const spanMs = (times.at(-1) as number) - (times[0] as number);
    expect(spanMs).toBeGreaterThanOrEqual(((CONNECTIONS - BURST) / BUDGET) * 1000 - TRANSIT_SPREAD_MS);
    expect(stack.shardQueue.stats.worker.peakConcurrency).toBe(WORKERS);
  });
});
