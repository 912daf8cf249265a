/**
 * A shard job whose run fails on a passing outage (DynamoDB failing its reads) comes back after the
 * backoff the worker sets on its message, seconds later, not after the shard queue's visibility
 * timeout (30 minutes as deployed), by which time it would be late and skip every connection made
 * since its publish. So it reaches them all, a client that connected after the publish (a
 * rollover, say) included.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/shared/limits';
import { PUBLISHES_TABLE } from '../../lambdas/shared/tables';
import type { DynamoRequestInfo } from '../support/dynamo-faults';
import { virtualConnections } from '../support/virtual';
import { postJson, useFaultProxyStack, WAIT_MS } from './helpers';

const THRESHOLD = 5;
/**
 * The shard queue's receives, as the `shardMaxReceiveCount` prop sets them: the worker shares half
 * the late age (10 min by default) out over the retries a job gets, so with 100 receives each
 * backoff is 1 to 3 s (shardRetryDelaySeconds) and the test need not wait 10 to 20 s for the
 * first retry of the default 5.
 */
const MAX_RECEIVES = 100;
/** The longest backoff with these settings, and room for the runs on a loaded machine. */
const RETRY_WITHIN_MS = 3_000 + 2 * WAIT_MS;

const { stack, proxy } = useFaultProxyStack({
  shardThreshold: THRESHOLD,
  shardMaxReceiveCount: MAX_RECEIVES,
});

describe('a shard job whose run fails', () => {
  it('runs again after a backoff of seconds, not the visibility timeout, and reaches the connections made meanwhile', async () => {
    // As deployed: a job left to the visibility timeout would be back in 30 minutes.
    expect(stack.shardQueue.visibilityTimeoutMs).toBe(30 * 60_000);
    const before = await virtualConnections(stack).add(THRESHOLD + 1, { topics: ['retry'], shardSpread: 1 });

    // DynamoDB fails every read of the job's progress until the first run has failed; that run's
    // first read is held until a client has connected after the publish.
    let failing = true;
    const isJobRead = (request: DynamoRequestInfo) =>
      request.operation === 'Query' &&
      request.table === stack.tableNames[PUBLISHES_TABLE.id] &&
      request.body.includes('"retry-1"');
    let reading!: () => void;
    const firstRunReading = new Promise<void>((resolve) => {
      reading = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    proxy.faults.hold = (request) => {
      if (!failing || !isJobRead(request)) return undefined;
      reading();
      return released;
    };
    proxy.faults.plan = (request) => (failing && isJobRead(request) ? 'error' : undefined);
    const runs: { readonly event: SQSEvent; readonly result: unknown; startedAt: number; endedAt: number }[] =
      [];
    let firstRunEnded!: () => void;
    const firstRunOver = new Promise<void>((resolve) => {
      firstRunEnded = resolve;
    });
    const off = stack.emulator.onInvoke((record) => {
      const event = record.event as SQSEvent;
      if (record.functionName !== 'worker' || !event.Records[0]?.body.includes('"retry-1"')) return;
      const endedAt = Date.now();
      runs.push({ event, result: record.result, startedAt: endedAt - record.durationMs, endedAt });
      failing = false;
      firstRunEnded();
    });

    try {
      const answer = await postJson(stack, '/publish', { to: { topic: 'retry' }, data: 'x', id: 'retry-1' });
      const published = Date.now();
      expect(answer.body).toEqual({ id: 'retry-1', queued: true, shards: 1 });
      await firstRunReading;
      // A client that connects after the publish, by more than the clock skew a job allows: one a
      // late job would skip (audienceOf). A wait on the clock itself, at most that second.
      const left = published + LIMITS.clockSkewMs + 1 - Date.now();
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
      const since = await virtualConnections(stack).add(2, { topics: ['retry'], shardSpread: 1 });
      release();
      await firstRunOver;
      // The failed job is hidden for its backoff, not handed out again at once.
      expect(stack.shardQueue.stats.queue).toMatchObject({ visible: 0, inFlight: 1 });

      await stack.shardQueue.whenDrained(RETRY_WITHIN_MS);

      expect(runs.map((run) => (run.result as SQSBatchResponse).batchItemFailures.length)).toEqual([1, 0]);
      expect(runs.map((run) => run.event.Records[0]?.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
      const [first, second] = runs;
      expect((second?.startedAt ?? 0) - (first?.endedAt ?? 0)).toBeLessThan(RETRY_WITHIN_MS);
      expect(virtualConnections(stack).copies(before)).toEqual({ 1: THRESHOLD + 1 });
      expect(virtualConnections(stack).copies(since)).toEqual({ 1: 2 });
      expect(stack.shardQueue.stats.deadLetters).toBe(0);
    } finally {
      off();
      proxy.faults.hold = undefined;
      proxy.faults.plan = undefined;
      release();
    }
  });
});
