/**
 * A shard queue message that is not a shard job, through the real worker on the local stack: the
 * worker's environment and role come from the synthesized template, so it finds the shard
 * dead-letter queue there and is allowed to send to it. The job goes there at once, while a valid
 * job sent in the same SendMessageBatch is delivered.
 */
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../lambdas/core/shard';
import { connect, useTestStack, WAIT_MS } from './helpers';

const stack = useTestStack();
let sqs: SQSClient;

beforeAll(() => {
  sqs = new SQSClient({
    endpoint: stack.httpUrl,
    region: stack.region,
    credentials: { accessKeyId: 'developer', secretAccessKey: 'developer' },
    maxAttempts: 1,
  });
});

afterAll(() => {
  sqs?.destroy();
});

describe('a malformed shard job', () => {
  it('lands in the shard DLQ after one receive while the valid job beside it is delivered', async () => {
    const topic = 'dlq-news';
    const socket = await connect(stack, 'dlq-reader', { topics: [topic] });
    expect(await socket.request({ action: 'subscribe', topic })).toEqual({ type: 'subscribed', topic });
    const frame = { type: 'message', topic, id: 'dlq-p1', data: { n: 1 } };
    const valid = {
      id: 'dlq-p1',
      shard: shardOf(socket.connectionId),
      to: { topic },
      payload: JSON.stringify(frame),
    };
    const malformed = JSON.stringify({ ...valid, shard: -1 });

    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.shardQueue.url,
        Entries: [
          { Id: 'valid', MessageBody: JSON.stringify(valid) },
          { Id: 'malformed', MessageBody: malformed },
        ],
      }),
    );
    expect(sent.Failed ?? []).toEqual([]);

    expect(await socket.nextJson()).toEqual(frame);
    const read = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.shardQueue.deadLetterUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: WAIT_MS / 1000,
        AttributeNames: ['All'],
      }),
    );
    const messageId = sent.Successful?.find((entry) => entry.Id === 'malformed')?.MessageId;
    // Moved by the worker, so SQS gave it a new id; the body is the job as it was queued.
    expect(read.Messages?.map((message) => message.Body)).toEqual([malformed]);
    expect(read.Messages?.[0]?.MessageId).not.toBe(messageId);
    expect(read.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');

    // Both jobs were answered as done, so the shard queue holds neither.
    await stack.shardQueue.whenDrained(WAIT_MS);
    expect(stack.shardQueue.stats.queue).toMatchObject({ visible: 0, inFlight: 0, sent: 2, deleted: 2 });

    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: stack.shardQueue.deadLetterUrl,
        ReceiptHandle: read.Messages?.[0]?.ReceiptHandle,
      }),
    );
    expect(stack.shardQueue.stats.deadLetters).toBe(0);
  });
});
