/**
 * A shard too big for one worker run, on the local stack: the real worker stops its stop margin
 * before its (here short) timeout, checkpoints, and sends its job to the shard queue again, and the
 * next run goes on from the checkpoint at once. Every connection gets the message exactly once,
 * over several worker invocations, none cut off by its timeout, none retried by SQS, and nothing
 * reaches the dead-letter queue.
 */
import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../lambdas/shared/deployment';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS, perWorkerRate, workerStopMarginMs } from '../../lambdas/shared/limits';
import type { InvocationRecord } from '../../local/functions';
import { virtualConnections } from '../support/virtual';
import { postJson, useTestStack, WAIT_MS } from './helpers';

const BUDGET = 40;
const WORKERS = 2;
/** Deliveries in flight per worker: fewer rate tokens to wait for in the stop margin. */
const IN_FLIGHT = 4;
/** What the worker keeps of its timeout to wind up, from the settings it runs with here. */
const MARGIN_MS = workerStopMarginMs({
  sendAttempts: LIMITS.sendAttempts,
  sendTimeoutMs: LIMITS.sendTimeoutMs,
  concurrency: IN_FLIGHT,
  ratePerSecond: perWorkerRate(BUDGET, WORKERS),
});
/**
 * Time a run has for its shard read and deliveries: at 20 deliveries/s (plus a burst of 2) at most
 * 82, so the shard below needs at least three runs however fast the machine is, and a loaded one
 * still reads the shard well within it.
 */
const DELIVERING_MS = 4_000;
const CONNECTIONS = 180;

const stack = useTestStack({
  shardThreshold: 5,
  rateBudget: BUDGET,
  workerConcurrency: WORKERS,
  workerTimeoutMs: MARGIN_MS + DELIVERING_MS,
  environment: { [ENV.fanoutConcurrency]: String(IN_FLIGHT) },
});

async function status(id: string): Promise<unknown> {
  const res = await fetch(`${stack.httpUrl}/publish/${encodeURIComponent(id)}`);
  return res.json();
}

async function metric(name: string): Promise<number> {
  const res = await fetch(`${stack.httpUrl}/metrics`);
  const body = (await res.json()) as { metrics: Record<string, { sum?: number } | undefined> };
  return body.metrics[name]?.sum ?? 0;
}

describe('a shard too big for one worker run', () => {
  it('is delivered whole, each connection once, by several runs that hand it on, with nothing dead-lettered', async () => {
    const ids = await virtualConnections(stack).add(CONNECTIONS, { topics: ['big'], shardSpread: 1 });
    const runs: InvocationRecord[] = [];
    const off = stack.emulator.onInvoke((record) => {
      if (record.functionName === 'worker') runs.push(record);
    });
    const continuedBefore = await metric(METRICS.shardJobsContinued);

    const answer = await postJson(stack, '/publish', { to: { topic: 'big' }, data: 'x', id: 'big-1' });
    expect(answer.body).toEqual({ id: 'big-1', queued: true, shards: 1 });
    // A bound that fails loudly, not a timing: the runs take about CONNECTIONS / 20 seconds.
    await stack.shardQueue.whenDrained(WAIT_MS * 12);
    off();

    expect(ids.filter((id) => virtualConnections(stack).deliveriesTo(id) !== 1)).toEqual([]);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    for (const run of runs) {
      // Each run answered in time and in full: no timeout, no batch item failure, and each job it
      // ran was a fresh message, not a retry that spent a receive.
      expect(run.error).toBeUndefined();
      expect(run.result).toEqual({ batchItemFailures: [] });
      const [record] = (run.event as SQSEvent).Records;
      expect(JSON.parse(record?.body ?? '')).toMatchObject({ id: 'big-1', shard: 0 });
      expect(record?.attributes.ApproximateReceiveCount).toBe('1');
    }
    expect(stack.emulator.functionStats('worker').timeouts).toBe(0);
    expect(stack.shardQueue.stats.deadLetters).toBe(0);
    expect(await metric(METRICS.shardJobsContinued)).toBe(continuedBefore + runs.length - 1);
    expect(await status('big-1')).toEqual({
      id: 'big-1',
      status: 'done',
      shards: 1,
      shardsDone: 1,
      connections: CONNECTIONS,
      delivered: CONNECTIONS,
      gone: 0,
      failed: 0,
    });
  });
});
