/**
 * The shard queue through the real `@aws-sdk/client-sqs`, and the event source behind it: SQS
 * events as Lambda passes them, retries after the visibility timeout, the dead-letter queue after
 * maxReceiveCount, the worker's concurrency bound, and the errors the SDK names.
 */
import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { startTestStack, WAIT_MS } from './helpers';

const VISIBILITY_MS = 150;
const MAX_RECEIVES = 3;

let stack: LocalStack;
/** As the publish handler builds it: no endpoint, so the SDK sends to the queue URL's host. */
let sqs: SQSClient;
const restore: (() => void)[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    workerConcurrency: 2,
    shardVisibilityTimeoutMs: VISIBILITY_MS,
    shardMaxReceiveCount: MAX_RECEIVES,
  });
  sqs = new SQSClient({ maxAttempts: 1 });
});

afterEach(async () => {
  for (const undo of restore.splice(0)) undo();
  await stack.shardQueue.whenDrained(WAIT_MS);
});

afterAll(async () => {
  sqs?.destroy();
  await stack?.stop();
});

/** Replaces the worker for one test with `handle`, which sees each SQS record. */
function worker(handle: (record: SQSRecord) => Promise<'ok' | 'fail'> | 'ok' | 'fail'): void {
  restore.push(
    stack.emulator.setHandler('worker', async (event: SQSEvent): Promise<SQSBatchResponse> => {
      const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
      for (const record of event.Records) {
        if ((await handle(record)) === 'fail') batchItemFailures.push({ itemIdentifier: record.messageId });
      }
      return { batchItemFailures };
    }),
  );
}

/**
 * Resolves with the first `count` records the (replaced) worker saw, in receive order (on a slow
 * machine a message can be received again before the run that had it settles).
 */
function records(count: number): { seen: SQSRecord[]; all: Promise<SQSRecord[]> } {
  const seen: SQSRecord[] = [];
  let done!: (records: SQSRecord[]) => void;
  const all = new Promise<SQSRecord[]>((resolve) => {
    done = resolve;
  });
  const off = stack.emulator.onInvoke((invocation) => {
    if (invocation.functionName !== 'worker') return;
    seen.push(...(invocation.event as SQSEvent).Records);
    if (seen.length >= count) {
      off();
      const receives = (r: SQSRecord) => Number(r.attributes.ApproximateReceiveCount);
      done([...seen].sort((a, b) => receives(a) - receives(b)));
    }
  });
  restore.push(off);
  return { seen, all };
}

describe('the SQS endpoint and event source', () => {
  it('hands each message of a SendMessageBatch to the worker as an SQS event of one record', async () => {
    worker(() => 'ok');
    const seen = records(2);

    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.shardQueue.url,
        Entries: [
          { Id: 's0', MessageBody: '{"shard":0}' },
          { Id: 's1', MessageBody: '{"shard":1}' },
        ],
      }),
    );
    const received = await seen.all;

    expect(out.Failed ?? []).toEqual([]);
    expect(out.Successful?.map((s) => s.Id)).toEqual(['s0', 's1']);
    const byBody = new Map(received.map((r) => [r.body, r]));
    for (const [index, sent] of (out.Successful ?? []).entries()) {
      const record = byBody.get(`{"shard":${index}}`);
      expect(record).toEqual({
        messageId: sent.MessageId,
        receiptHandle: expect.any(String),
        body: `{"shard":${index}}`,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: expect.stringMatching(/^\d{13}$/),
          SenderId: expect.any(String),
          ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
        },
        messageAttributes: {},
        md5OfBody: sent.MD5OfMessageBody,
        eventSource: 'aws:sqs',
        eventSourceARN: stack.shardQueue.arn,
        awsRegion: stack.region,
      });
    }
    await stack.shardQueue.whenDrained(WAIT_MS);
    expect(stack.shardQueue.stats.queue).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('takes SendMessage too, with its message attributes', async () => {
    worker(() => 'ok');
    const seen = records(1);

    const out = await sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.shardQueue.url,
        MessageBody: 'one',
        MessageAttributes: { kind: { DataType: 'String', StringValue: 'test' } },
      }),
    );
    const [record] = await seen.all;

    expect(record?.messageId).toBe(out.MessageId);
    expect(record?.messageAttributes).toEqual({
      kind: { dataType: 'String', stringValue: 'test', stringListValues: [], binaryListValues: [] },
    });
  });

  it('gives a message the worker listed in batchItemFailures again after the visibility timeout', async () => {
    const calledAt: number[] = [];
    worker(() => {
      calledAt.push(performance.now());
      return calledAt.length === 1 ? 'fail' : 'ok';
    });
    const seen = records(2);

    const sentAt = performance.now();
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.shardQueue.url, MessageBody: 'retry me' }));
    const [first, second] = await seen.all;

    expect(second?.messageId).toBe(first?.messageId);
    expect(second?.receiptHandle).not.toBe(first?.receiptHandle);
    expect([first?.attributes.ApproximateReceiveCount, second?.attributes.ApproximateReceiveCount]).toEqual([
      '1',
      '2',
    ]);
    expect(second?.attributes.ApproximateFirstReceiveTimestamp).toBe(
      first?.attributes.ApproximateFirstReceiveTimestamp,
    );
    // The first receive came after the send, and the second a visibility timeout after the first
    // (less a millisecond: the queue keeps time with Date.now).
    expect((calledAt[1] as number) - sentAt).toBeGreaterThanOrEqual(VISIBILITY_MS - 1);
  });

  it('gives a message again when the invocation threw', async () => {
    let calls = 0;
    restore.push(
      stack.emulator.setHandler('worker', async () => {
        if (++calls === 1) throw new Error('the worker crashed');
        return { batchItemFailures: [] };
      }),
    );
    const seen = records(2);

    await sqs.send(new SendMessageCommand({ QueueUrl: stack.shardQueue.url, MessageBody: 'crash once' }));
    const [first, second] = await seen.all;

    expect(second?.messageId).toBe(first?.messageId);
    expect(second?.attributes.ApproximateReceiveCount).toBe('2');
  });

  it('moves a job its worker keeps failing to the dead-letter queue after maxReceiveCount receives', async () => {
    worker(() => 'fail');
    const before = stack.shardQueue.deadLetters().length;
    const seen = records(MAX_RECEIVES);

    const out = await sqs.send(
      new SendMessageCommand({ QueueUrl: stack.shardQueue.url, MessageBody: 'never done' }),
    );
    const received = await seen.all;
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(received.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['1', '2', '3']);
    const dead = stack.shardQueue.deadLetters();
    expect(dead).toHaveLength(before + 1);
    expect(dead.at(-1)).toMatchObject({
      messageId: out.MessageId,
      body: 'never done',
      receiveCount: MAX_RECEIVES,
    });
  });

  it('has the real worker move a message that is not a shard job to the dead-letter queue after one receive', async () => {
    const before = stack.shardQueue.deadLetters().length;
    const received: SQSRecord[] = [];
    restore.push(
      stack.emulator.onInvoke((invocation) => {
        if (invocation.functionName === 'worker') received.push(...(invocation.event as SQSEvent).Records);
      }),
    );

    await sqs.send(new SendMessageCommand({ QueueUrl: stack.shardQueue.url, MessageBody: 'not json' }));
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(received.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([['not json', '1']]);
    // Sent there by the worker, not moved by the redrive policy: never received from the DLQ.
    expect(stack.shardQueue.deadLetters().slice(before)).toEqual([
      expect.objectContaining({ body: 'not json', receiveCount: 0 }),
    ]);
  });

  it('runs at most workerConcurrency workers at once and holds the rest in the queue', async () => {
    let running = 0;
    let most = 0;
    const waiting: (() => void)[] = [];
    let twoRunning!: () => void;
    const bothStarted = new Promise<void>((resolve) => {
      twoRunning = resolve;
    });
    worker(async () => {
      running++;
      most = Math.max(most, running);
      if (running === 2) twoRunning();
      await new Promise<void>((resolve) => waiting.push(resolve));
      running--;
      return 'ok' as const;
    });
    // The held jobs must not come back while they run.
    stack.shardQueue.visibilityTimeoutMs = 30_000;
    restore.push(() => {
      stack.shardQueue.visibilityTimeoutMs = VISIBILITY_MS;
    });

    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.shardQueue.url,
        Entries: Array.from({ length: 5 }, (_, i) => ({ Id: `j${i}`, MessageBody: `job ${i}` })),
      }),
    );
    await bothStarted;

    expect(stack.shardQueue.stats.queue).toMatchObject({ visible: 3, inFlight: 2 });
    expect(stack.shardQueue.stats.worker).toMatchObject({ inFlight: 2, concurrencyLimit: 2 });
    while (running > 0 || stack.shardQueue.stats.queue.visible > 0) {
      const release = waiting.shift();
      if (release === undefined) await new Promise((resolve) => setImmediate(resolve));
      else release();
    }
    await stack.shardQueue.whenDrained(WAIT_MS);
    expect(most).toBe(2);
  });

  it('reports the queue through GetQueueAttributes, with its redrive policy', async () => {
    const out = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: stack.shardQueue.url, AttributeNames: ['All'] }),
    );

    expect(out.Attributes).toEqual({
      QueueArn: stack.shardQueue.arn,
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
      VisibilityTimeout: '0',
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: stack.shardQueue.arn.replace(/push-shard-jobs$/, 'push-shard-jobs-dlq'),
        maxReceiveCount: MAX_RECEIVES,
      }),
    });
  });
});

describe('errors the SDK names', () => {
  const entry = (Id: string) => ({ Id, MessageBody: 'x' });

  it.each([
    ['an unknown queue', 'nope', [entry('a')], 'QueueDoesNotExist'],
    ['no entries', undefined, [], 'EmptyBatchRequest'],
    [
      'eleven entries',
      undefined,
      Array.from({ length: 11 }, (_, i) => entry(`e${i}`)),
      'TooManyEntriesInBatchRequest',
    ],
    ['a repeated id', undefined, [entry('same'), entry('same')], 'BatchEntryIdsNotDistinct'],
    ['an id with a dot', undefined, [entry('a.b')], 'InvalidBatchEntryId'],
  ])('refuses a batch with %s', async (_, queueName, entries, name) => {
    // An unknown queue is still on this stack's host: only its path names no queue.
    const url = queueName === undefined ? stack.shardQueue.url : `${stack.httpUrl}/000000000000/${queueName}`;
    const error = (await sqs
      .send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }))
      .catch((e: unknown) => e)) as Error & { $metadata: { httpStatusCode: number } };

    expect(error.name).toBe(name);
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  it('fails only the entry whose body SQS would refuse, and sends the others', async () => {
    worker(() => 'ok');
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.shardQueue.url,
        Entries: [
          { Id: 'good', MessageBody: 'fine' },
          { Id: 'bad', MessageBody: 'nul \u0000 inside' },
        ],
      }),
    );

    expect(out.Successful?.map((s) => s.Id)).toEqual(['good']);
    expect(out.Failed).toEqual([
      {
        Id: 'bad',
        SenderFault: true,
        Code: 'InvalidMessageContents',
        Message: 'Invalid binary character in the message body; see the characters SQS allows.',
      },
    ]);
  });
});
