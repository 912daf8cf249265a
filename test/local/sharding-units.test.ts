/**
 * The pure and in-memory parts of the local sharded fan-out: the SQS queue's visibility timeout,
 * receive counts and redrive; the SQS event and the batch-response rules; the event source's
 * batch gathering; execution environments; the item recorder.
 */

import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store';
import { LIMITS } from '../../lambdas/shared/limits';
import { CONNECTIONS_TABLE } from '../../lambdas/shared/tables';
import { environmentPool } from '../../local/environments';
import { silentLogger } from '../../local/logger';
import { SqsEventSource } from '../../local/queue/event-source';
import { failedMessages, sqsEvent } from '../../local/queue/sqs-event';
import { LocalSqsQueue, md5Hex } from '../../local/queue/sqs-queue';
import { applyUpdate, ItemRecorder, UnsupportedRecordingError } from '../support/virtual/item-recorder';
import { within } from '../support/within';

/** A clock tests move by hand. */
function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function queues(time: ReturnType<typeof clock>, maxReceiveCount = 2) {
  const common = {
    region: 'us-east-1',
    accountId: '000000000000',
    origin: 'http://127.0.0.1:3000',
    now: time.now,
  };
  const dlq = new LocalSqsQueue({ ...common, name: 'jobs-dlq' });
  const queue = new LocalSqsQueue({
    ...common,
    name: 'jobs',
    visibilityTimeoutMs: 1_000,
    deadLetter: { queue: dlq, maxReceiveCount },
  });
  return { queue, dlq };
}

describe('LocalSqsQueue', () => {
  it('names itself like SQS: URL on the origin, ARN with region and account', () => {
    const { queue } = queues(clock());
    expect(queue.url).toBe('http://127.0.0.1:3000/000000000000/jobs');
    expect(queue.arn).toBe('arn:aws:sqs:us-east-1:000000000000:jobs');
  });

  it('hides a received message for the visibility timeout, then hands it out again with a new handle', () => {
    const time = clock();
    const { queue } = queues(time);
    const sent = queue.send('job');

    const [first] = queue.receive(10);
    expect(first).toMatchObject({ messageId: sent.messageId, body: 'job', receiveCount: 1 });
    expect(queue.receive(10)).toEqual([]);
    expect(queue.counts()).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    time.advance(999);
    expect(queue.receive(10)).toEqual([]);
    time.advance(1);
    const [second] = queue.receive(10);

    expect(second).toMatchObject({ messageId: sent.messageId, receiveCount: 2 });
    expect(second?.receiptHandle).not.toBe(first?.receiptHandle);
    expect(second?.firstReceiveTimestamp).toBe(first?.firstReceiveTimestamp);
  });

  it('deletes only with the latest receipt handle, as SQS does', () => {
    const time = clock();
    const { queue } = queues(time, 5);
    queue.send('job');
    const [first] = queue.receive(1);
    time.advance(1_000);
    const [second] = queue.receive(1);

    expect(queue.delete(first?.receiptHandle as string)).toBe(false);
    expect(queue.size).toBe(1);
    expect(queue.delete(second?.receiptHandle as string)).toBe(true);
    expect(queue.size).toBe(0);
  });

  it('moves a message received maxReceiveCount times to the dead-letter queue on the next receive', () => {
    const time = clock();
    const { queue, dlq } = queues(time, 2);
    const sent = queue.send('poison');
    queue.receive(1);
    time.advance(1_000);
    queue.receive(1);
    time.advance(1_000);

    expect(queue.receive(1)).toEqual([]);

    expect(queue.size).toBe(0);
    expect(queue.totals.movedToDeadLetter).toBe(1);
    expect(dlq.messages()).toEqual([
      expect.objectContaining({ messageId: sent.messageId, body: 'poison', receiveCount: 2 }),
    ]);
  });

  it('makes a received message visible at once with ChangeMessageVisibility 0, for its latest handle only', () => {
    const time = clock();
    const { queue } = queues(time, 5);
    queue.send('job');
    const [first] = queue.receive(1);
    let woken = 0;
    queue.onMessage(() => woken++);

    expect(queue.changeVisibility(first?.receiptHandle as string, 0)).toBe(true);
    const [second] = queue.receive(1);
    expect(second).toMatchObject({ receiveCount: 2 });
    expect(queue.changeVisibility(first?.receiptHandle as string, 0)).toBe(false);
    expect(woken).toBe(1);
  });

  it('holds a delayed message until its delay passes', () => {
    const time = clock();
    const { queue } = queues(time);
    queue.send('later', { delayMs: 500 });

    expect(queue.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    expect(queue.nextVisibleAt()).toBe(time.now() + 500);
    time.advance(500);
    expect(queue.receive(1)).toHaveLength(1);
  });

  it('refuses a visibility timeout or maxReceiveCount outside what SQS allows', () => {
    const { queue } = queues(clock());
    expect(() => {
      queue.visibilityTimeoutMs = -1;
    }).toThrow(new RangeError('visibility timeout must be within 0..12 h, got -1 ms'));
    expect(() => {
      queue.maxReceiveCount = 0;
    }).toThrow(new RangeError('maxReceiveCount must be an integer from 1 to 1000, got 0'));
  });
});

describe('sqsEvent', () => {
  it('builds the record Lambda passes for an SQS message', () => {
    const time = clock();
    const { queue } = queues(time);
    queue.send('{"id":"p1"}', { messageAttributes: { kind: { DataType: 'String', StringValue: 'shard' } } });
    const received = queue.receive(1);
    const message = received[0];

    expect(sqsEvent(received, queue, 'us-east-1')).toEqual({
      Records: [
        {
          messageId: message?.messageId,
          receiptHandle: message?.receiptHandle,
          body: '{"id":"p1"}',
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: String(time.now()),
            SenderId: message?.senderId,
            ApproximateFirstReceiveTimestamp: String(time.now()),
          },
          messageAttributes: {
            kind: { dataType: 'String', stringValue: 'shard', stringListValues: [], binaryListValues: [] },
          },
          md5OfBody: md5Hex('{"id":"p1"}'),
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:jobs',
          awsRegion: 'us-east-1',
        },
      ],
    });
  });
});

describe('failedMessages', () => {
  const ids = ['m1', 'm2', 'm3'];

  it.each([
    ['no answer', undefined, []],
    ['null', null, []],
    ['an empty answer', {}, []],
    ['a null list', { batchItemFailures: null }, []],
    ['an empty list', { batchItemFailures: [] }, []],
    ['one failure', { batchItemFailures: [{ itemIdentifier: 'm2' }] }, ['m2']],
    [
      'two failures',
      { batchItemFailures: [{ itemIdentifier: 'm3' }, { itemIdentifier: 'm1' }] },
      ['m3', 'm1'],
    ],
  ])('fails exactly the listed messages for %s', (_, result, failed) => {
    expect(failedMessages(result, ids)).toEqual(new Set(failed as string[]));
  });

  it.each([
    ['an empty itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a null itemIdentifier', { batchItemFailures: [{ itemIdentifier: null }] }],
    ['a misspelt key', { batchItemFailures: [{ itemIdentifer: 'm1' }] }],
    ['an id not in the batch', { batchItemFailures: [{ itemIdentifier: 'm9' }] }],
    ['a list that is not a list', { batchItemFailures: 'm1' }],
    ['an answer that is not an object', 'ok'],
  ])('fails the whole batch for %s', (_, result) => {
    expect(failedMessages(result, ids)).toBe('all');
  });
});

describe('SqsEventSource', () => {
  it('puts a message whose visibility timeout ended while its batch was gathered in the batch once', async () => {
    const queue = new LocalSqsQueue({
      name: 'jobs',
      region: 'us-east-1',
      accountId: '000000000000',
      origin: 'http://127.0.0.1:3000',
      visibilityTimeoutMs: 10,
    });
    let invoked!: (event: SQSEvent) => void;
    const event = new Promise<SQSEvent>((resolve) => {
      invoked = resolve;
    });
    const source = new SqsEventSource({
      queue,
      concurrency: 1,
      batchSize: 3,
      // Several visibility timeouts: the message is handed out again while it waits.
      batchingWindowMs: 60,
      reportBatchItemFailures: true,
      region: 'us-east-1',
      logger: silentLogger,
      invoke: async (e) => {
        invoked(e);
        return {};
      },
    });
    const sent = queue.send('job');
    source.start();
    try {
      const { Records } = await within(event, 5_000, 'the invocation');
      expect(Records.map((r) => r.messageId)).toEqual([sent.messageId]);
      expect(Number(Records[0]?.attributes.ApproximateReceiveCount)).toBeGreaterThan(1);
    } finally {
      await source.stop();
    }
  });
});

describe('environmentPool', () => {
  it('gives concurrent invocations different environments and queues the one too many', async () => {
    const running: number[] = [];
    const releases: (() => void)[] = [];
    const instance = (n: number) => async () => {
      running.push(n);
      await new Promise<void>((resolve) => releases.push(resolve));
      return n;
    };
    const pool = environmentPool([instance(0), instance(1)]);
    const context = {} as Parameters<typeof pool>[1];

    const calls = [pool({}, context), pool({}, context), pool({}, context)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(running).toEqual([0, 1]);
    releases.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(running).toEqual([0, 1, 0]);
    for (const release of releases.splice(0)) release();

    expect(await Promise.all(calls)).toEqual([0, 1, 0]);
  });
});

describe('ItemRecorder', () => {
  it('records what DynamoConnectionStore.put and .subscribe write, the update applied to the put', async () => {
    const recorder = new ItemRecorder(CONNECTIONS_TABLE);
    const store = new DynamoConnectionStore(recorder.asDocumentClient(), 'Connections');
    const record = {
      connectionId: 'c1=',
      uid: 'u1',
      shard: 3,
      connectedAt: 1_000,
      lastSeenAt: 1_000,
      expiresAt: 8_000,
      grants: ['orders'],
    };

    await store.put(record);
    await store.subscribe(
      { connectionId: 'c1=', topic: 'orders', uid: 'u1', shard: 3, connectedAt: 1_000, expiresAt: 9_000 },
      2_000,
      LIMITS.maxSubscriptions,
    );
    const [connection, subscription, ...rest] = recorder.take();

    expect(rest).toEqual([]);
    expect(connection).toMatchObject({
      pk: 'c1=',
      sk: 'conn',
      topics: new Set(['orders']),
      lastSeenAt: 2_000,
    });
    expect(subscription).toMatchObject({ pk: 'c1=', sk: 'topic#orders', topic: 'orders', topicShard: 3 });
    expect(recorder.take()).toEqual([]);
  });

  it('refuses what it cannot replay faithfully', async () => {
    const recorder = new ItemRecorder(CONNECTIONS_TABLE);
    const store = new DynamoConnectionStore(recorder.asDocumentClient(), 'Connections');
    // The store wraps what its client threw, as it wraps any SDK failure.
    await expect(store.touch('never-put', 1)).rejects.toMatchObject({
      cause: expect.any(UnsupportedRecordingError),
    });
    expect(() => applyUpdate({}, 'REMOVE #a', { '#a': 'a' })).toThrow(
      new UnsupportedRecordingError('cannot replay REMOVE clauses'),
    );
    expect(() => applyUpdate({}, 'SET #a = #a + :one', { '#a': 'a' }, { ':one': 1 })).toThrow(
      new UnsupportedRecordingError('cannot replay SET #a = #a + :one'),
    );
  });
});
