/**
 * The shard queue's event source runs as the template's mapping says: a CDK app that changes its
 * batch size, its batching window or its `ReportBatchItemFailures` changes what the worker
 * receives and what the queue deletes or hands out again, with no edit under local/. The worker is
 * replaced per test (the event source, the queue and the SQS endpoint are the stack's own).
 */
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { CfnEventSourceMapping } from 'aws-cdk-lib/aws-lambda';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoadStackOptions } from '../../local/deployment/template-cache';
import type { LocalStack, LocalStackOptions } from '../../local/stack';
import { within } from '../support/within';
import { startTestStack, WAIT_MS } from './helpers';

/** A CDK app that builds PushStack, then changes the worker's mapping on the shard queue. */
function withMapping(change: (mapping: CfnEventSourceMapping) => void): LoadStackOptions {
  return {
    customize: (stack) =>
      change(
        stack.functions.worker.node.findChild('ShardQueueSource').node.defaultChild as CfnEventSourceMapping,
      ),
  };
}

/** One stack for a describe block, with an SQS client, and the worker's stand-in undone after each test. */
function useStack(options: LocalStackOptions) {
  const state: { stack?: LocalStack; sqs?: SQSClient } = {};
  const restore: (() => void)[] = [];
  beforeAll(async () => {
    state.stack = await startTestStack(options);
    state.sqs = new SQSClient({
      endpoint: state.stack.httpUrl,
      region: state.stack.region,
      credentials: { accessKeyId: 'developer', secretAccessKey: 'developer' },
      maxAttempts: 1,
    });
  });
  afterEach(async () => {
    for (const undo of restore.splice(0)) undo();
    await state.stack?.shardQueue.whenDrained(WAIT_MS);
  });
  afterAll(async () => {
    state.sqs?.destroy();
    await state.stack?.stop();
  });
  const stack = () => state.stack as LocalStack;
  return {
    stack,
    /** Sends `bodies` in one SendMessageBatch. */
    async sendBatch(bodies: readonly string[]): Promise<void> {
      const out = await (state.sqs as SQSClient).send(
        new SendMessageBatchCommand({
          QueueUrl: stack().shardQueue.url,
          Entries: bodies.map((body, i) => ({ Id: `m${i}`, MessageBody: body })),
        }),
      );
      expect(out.Failed ?? []).toEqual([]);
    },
    async send(body: string): Promise<void> {
      await (state.sqs as SQSClient).send(
        new SendMessageCommand({ QueueUrl: stack().shardQueue.url, MessageBody: body }),
      );
    },
    /** Replaces the worker: `answer` gets each invocation's event and its number (from 1). */
    worker(answer: (event: SQSEvent, call: number) => SQSBatchResponse | Promise<SQSBatchResponse>): void {
      let calls = 0;
      restore.push(stack().emulator.setHandler('worker', async (event: SQSEvent) => answer(event, ++calls)));
    },
    /** Resolves with the events of the worker's next `count` invocations, in order. */
    invocations(count: number): Promise<SQSRecord[][]> {
      const seen: SQSRecord[][] = [];
      let off: () => void = () => {};
      const all = new Promise<SQSRecord[][]>((resolve) => {
        off = stack().emulator.onInvoke((record) => {
          if (record.functionName !== 'worker') return;
          seen.push((record.event as SQSEvent).Records);
          if (seen.length === count) resolve(seen);
        });
      });
      restore.push(off);
      return within(all, WAIT_MS, `${count} worker invocations`).finally(off);
    },
  };
}

const bodies = (records: readonly SQSRecord[]) => records.map((r) => r.body);
const receives = (records: readonly SQSRecord[]) => records.map((r) => r.attributes.ApproximateReceiveCount);
/** The worker's answer listing `records` (those given) as failed. */
const fail = (...records: (SQSRecord | undefined)[]): SQSBatchResponse => ({
  batchItemFailures: records.flatMap((r) => (r === undefined ? [] : [{ itemIdentifier: r.messageId }])),
});

describe('a mapping with batch size 3 and ReportBatchItemFailures', () => {
  const { stack, sendBatch, worker, invocations } = useStack({
    cdk: withMapping((mapping) => {
      mapping.batchSize = 3;
    }),
  });

  it('runs with the batch size from the template, with no batching window', () => {
    expect(stack().shardQueue.eventSource).toEqual({
      batchSize: 3,
      batchingWindowMs: 0,
      reportBatchItemFailures: true,
    });
  });

  it('hands a SendMessageBatch of four to the worker as batches of three and one, and gives again only the message it listed', async () => {
    worker((event, call) => fail(event.Records.find((r) => r.body === 'bad' && call === 1)));
    const before = stack().shardQueue.stats;
    const seen = invocations(2);

    await sendBatch(['a', 'bad', 'c', 'd']);
    const batches = await seen;
    // A listed message comes back after the visibility timeout: now, for the test.
    const retried = invocations(1);
    const bad = batches.flat().find((r) => r.body === 'bad') as SQSRecord;
    expect(stack().shardQueue.changeVisibility(bad.receiptHandle, 0)).toBe(true);
    const [again] = await retried;
    await stack().shardQueue.whenDrained(WAIT_MS);

    expect(batches.map(bodies).sort((x, y) => y.length - x.length)).toEqual([['a', 'bad', 'c'], ['d']]);
    expect(bodies(again ?? [])).toEqual(['bad']);
    expect(receives(again ?? [])).toEqual(['2']);
    const after = stack().shardQueue.stats;
    expect(after.worker.invocations - before.worker.invocations).toBe(3);
    expect(after.queue.deleted - before.queue.deleted).toBe(4);
    expect(after.deadLetters).toBe(before.deadLetters);
  });

  it.each([
    ['an id not in the batch', { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] }],
    ['an empty itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
  ])('gives the whole batch again when its answer lists %s', async (_, answer) => {
    worker((_event, call) => (call === 1 ? (answer as SQSBatchResponse) : fail()));
    const seen = invocations(1);

    await sendBatch(['x', 'y', 'z']);
    const [first] = await seen;
    const retried = invocations(1);
    for (const record of first ?? []) stack().shardQueue.changeVisibility(record.receiptHandle, 0);
    const [again] = await retried;

    expect(bodies(again ?? [])).toEqual(['x', 'y', 'z']);
    expect(receives(again ?? [])).toEqual(['2', '2', '2']);
  });
});

describe('a mapping with batch size 3 and no ReportBatchItemFailures', () => {
  const { stack, sendBatch, worker, invocations } = useStack({
    cdk: withMapping((mapping) => {
      mapping.batchSize = 3;
      mapping.functionResponseTypes = undefined;
    }),
  });

  it('runs without partial batch responses, as the template says', () => {
    expect(stack().shardQueue.eventSource.reportBatchItemFailures).toBe(false);
  });

  it('deletes the whole batch when the worker returns, the failures it listed included', async () => {
    worker((event) => fail(event.Records.find((r) => r.body === 'bad')));
    const before = stack().shardQueue.stats;
    const seen = invocations(1);

    await sendBatch(['a', 'bad', 'c']);
    const [first] = await seen;
    await stack().shardQueue.whenDrained(WAIT_MS);

    // Drained with one invocation: nothing was left to come back, the failed job is lost.
    expect(bodies(first ?? [])).toEqual(['a', 'bad', 'c']);
    const after = stack().shardQueue.stats;
    expect(after.worker.invocations - before.worker.invocations).toBe(1);
    expect(after.queue.deleted - before.queue.deleted).toBe(3);
    expect(after.deadLetters).toBe(before.deadLetters);
  });

  it('gives the whole batch again when the invocation throws', async () => {
    worker((_event, call) => {
      if (call === 1) throw new Error('the worker crashed');
      return fail();
    });
    const seen = invocations(1);

    await sendBatch(['p', 'q', 'r']);
    const [first] = await seen;
    const retried = invocations(1);
    for (const record of first ?? []) stack().shardQueue.changeVisibility(record.receiptHandle, 0);
    const [again] = await retried;

    expect(bodies(again ?? [])).toEqual(['p', 'q', 'r']);
    expect(receives(again ?? [])).toEqual(['2', '2', '2']);
  });
});

describe('a mapping with a batching window', () => {
  /**
   * The window the test runs with: the template's 20 s, scaled down, yet long enough for two SQS
   * round trips on a loaded machine (the first test's messages must all fall inside it).
   */
  const WINDOW_MS = 3_000;
  const { stack, send, sendBatch, worker, invocations } = useStack({
    cdk: withMapping((mapping) => {
      mapping.batchSize = 3;
      mapping.maximumBatchingWindowInSeconds = 20;
    }),
    shardBatchingWindowMs: WINDOW_MS,
  });

  it('gathers messages sent apart into one batch, invoking as soon as it is full', async () => {
    let invokedAt = Number.POSITIVE_INFINITY;
    worker(() => {
      invokedAt = performance.now();
      return fail();
    });
    const seen = invocations(1);

    const sentAt = performance.now();
    await send('first');
    expect(stack().shardQueue.stats.worker.gathering).toBe(1);
    await sendBatch(['second', 'third']);
    const [batch] = await seen;

    expect(bodies(batch ?? [])).toEqual(['first', 'second', 'third']);
    // Full, it goes at once: well before the window, which began once 'first' arrived (after
    // sentAt), could end. A source that waited out the window with a full batch invoked no
    // earlier than sentAt + WINDOW_MS; two SQS round trips take far less than half of it.
    expect(invokedAt - sentAt).toBeLessThan(WINDOW_MS / 2);
  });

  it('invokes with fewer messages once the window ends', async () => {
    worker(() => fail());
    const seen = invocations(1);

    const sentAt = performance.now();
    await send('alone');
    const [batch] = await seen;

    expect(bodies(batch ?? [])).toEqual(['alone']);
    // The queue and the window keep time with Date.now and setTimeout: a millisecond of slack.
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(WINDOW_MS - 1);
  });
});
