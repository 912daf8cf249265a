/**
 * The sharded path as an operator meets it when things go wrong behind it: the Management API
 * answering 410 for connections still inside `$connect`, and the publishes table emptied while a
 * shard job runs. The real publish handler queues the jobs, the real worker runs them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { virtualConnections } from '../support/virtual';
import { postJson, useTestStack, WAIT_MS } from './helpers';

const THRESHOLD = 2;

// A grace far longer than any run of this file: the rule under test, not the clock, decides.
const stack = useTestStack({
  shardThreshold: THRESHOLD,
  environment: { [ENV.connectGraceMs]: String(60 * 60_000) },
});

afterEach(async () => {
  stack.emulator.faults.management = undefined;
  await stack.shardQueue.whenDrained(WAIT_MS);
  virtualConnections(stack).resetCounts();
});

/** How many connections got each number of copies, e.g. `{ 1: 40 }`. */
function copies(ids: readonly string[]): Record<number, number> {
  const histogram: Record<number, number> = {};
  for (const id of ids) {
    const n = virtualConnections(stack).deliveriesTo(id);
    histogram[n] = (histogram[n] ?? 0) + 1;
  }
  return histogram;
}

async function status(id: string): Promise<unknown> {
  return (await fetch(`${stack.httpUrl}/publish/${encodeURIComponent(id)}`)).json();
}

describe('a shard worker meeting a 410', () => {
  it('keeps the records of connections young enough to be inside $connect, as an inline publish does', async () => {
    const ids = await virtualConnections(stack).add(THRESHOLD + 2, { topics: ['opening'], shardSpread: 2 });
    // API Gateway answers 410 to a connection until its $connect has returned.
    stack.emulator.faults.management = { goneRate: 1 };

    const first = await postJson(stack, '/publish', { to: { topic: 'opening' }, data: 1, id: 'opening-1' });
    await stack.shardQueue.whenDrained(WAIT_MS);
    stack.emulator.faults.management = undefined;

    expect(first.body).toEqual({ id: 'opening-1', queued: true, shards: 2 });
    expect(await status('opening-1')).toMatchObject({
      status: 'done',
      connections: ids.length,
      gone: ids.length,
    });
    // Their records are still there: the next publish finds every one of them.
    const second = await postJson(stack, '/publish', { to: { topic: 'opening' }, data: 2, id: 'opening-2' });
    await stack.shardQueue.whenDrained(WAIT_MS);
    expect(second.body).toEqual({ id: 'opening-2', queued: true, shards: 2 });
    expect(copies(ids)).toEqual({ 1: ids.length });
  });
});
