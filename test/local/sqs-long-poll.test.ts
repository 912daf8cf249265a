/**
 * A long poll (`WaitTimeSeconds`) with `VisibilityTimeout: 0` on the local SQS endpoint: what it
 * receives is visible again at once, which notified the poll itself, which received it again, in
 * one synchronous burst. On the failure queue the burst overflowed the stack and the whole local
 * stack exited; on the shard queue one poll counted five receives and sent the job to its
 * dead-letter queue (found by the attacker helper). One ReceiveMessage is one receive.
 *
 * And a long poll answers as soon as a message becomes visible (SQS: "returns messages as soon as
 * they become available"): one woke only for a send, so a delayed message, or one whose
 * visibility timeout ended, was answered only at the end of the wait (review rev7).
 */
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { DEVELOPER_SQS_AUTHORIZATION, useTestStack } from './helpers';

const stack = useTestStack();
let sqs: SQSClient | undefined;
afterAll(() => sqs?.destroy());

function client(): SQSClient {
  sqs ??= new SQSClient({
    endpoint: stack.httpUrl,
    region: stack.region,
    credentials: { accessKeyId: 'developer', secretAccessKey: 'developer' },
    maxAttempts: 1,
  });
  return sqs;
}

/** The publish function's on-failure queue, which nothing in the stack reads. */
/** Receives `url` with a long poll of 20 s; answers with the bodies and how long the answer took. */
async function longPoll(
  url: string,
): Promise<{ bodies: (string | undefined)[]; tookMs: number; handles: string[] }> {
  const started = performance.now();
  const { Messages = [] } = await client().send(
    new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20, MessageSystemAttributeNames: ['All'] }),
  );
  return {
    bodies: Messages.map((m) => m.Body),
    tookMs: performance.now() - started,
    handles: Messages.map((m) => m.ReceiptHandle as string),
  };
}

function failureQueueUrl(): string {
  const queue = stack.deployment.queues[stack.deployment.index.invokeFailureQueue];
  if (queue === undefined) throw new Error('the template has no invoke failure queue');
  return queue.url;
}

describe('a long poll that asks for a visibility timeout of 0', () => {
  it('receives a message sent while it waits once, and the stack and the send carry on', async () => {
    const url = failureQueueUrl();
    const poll = client().send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        WaitTimeSeconds: 2,
        VisibilityTimeout: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    // The poll is waiting by the time the send arrives: both go over one client, in order.
    const sent = await client().send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'once' }));
    expect(sent.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    const { Messages } = await poll;
    expect(Messages?.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([['once', '1']]);

    // A second poll, which waits out its time with the message visible: one receive more.
    const again = await client().send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    expect(again.Messages?.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([
      ['once', '2'],
    ]);
    const { Attributes } = await client().send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    expect(Attributes?.ApproximateNumberOfMessages).toBe('1');
    // And the stack is up: the burst used to overflow its stack when the first poll's wait ended.
    expect((await fetch(`${stack.httpUrl}/metrics`)).status).toBe(200);
  });

  it('answers the system attributes asked for under their current name in the query protocol too', async () => {
    // `MessageSystemAttributeName.N` replaced `AttributeName.N`; the endpoint read only the old one.
    const form = new URLSearchParams({
      Action: 'ReceiveMessage',
      QueueUrl: failureQueueUrl(),
      VisibilityTimeout: '0',
      'MessageSystemAttributeName.1': 'ApproximateReceiveCount',
    });
    const answer = await fetch(stack.httpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: DEVELOPER_SQS_AUTHORIZATION,
      },
      body: form,
    });
    const xml = await answer.text();
    expect(answer.status).toBe(200);
    expect(xml).toContain('<Body>once</Body>');
    expect(xml).toMatch(/<Attribute><Name>ApproximateReceiveCount<\/Name><Value>3<\/Value><\/Attribute>/);
  });
});

describe('a long poll waiting for a message that becomes visible later', () => {
  // The shard queue's dead-letter queue: nothing in the stack receives from it.
  const url = () => stack.shardQueue.deadLetterUrl;
  /** Well under the poll's 20 s, and far over the 1 s the message stays hidden. */
  const EARLY_MS = 10_000;

  it('answers once a delayed message is due, not at the end of its wait', async () => {
    await client().send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'later', DelaySeconds: 1 }));
    const poll = await longPoll(url());
    expect(poll.bodies).toEqual(['later']);
    expect(poll.tookMs).toBeLessThan(EARLY_MS);
    for (const handle of poll.handles)
      await client().send(new DeleteMessageCommand({ QueueUrl: url(), ReceiptHandle: handle }));
  });

  it('answers once a received message is visible again after its visibility timeout', async () => {
    await client().send(new SendMessageCommand({ QueueUrl: url(), MessageBody: 'again' }));
    const first = await client().send(new ReceiveMessageCommand({ QueueUrl: url(), VisibilityTimeout: 1 }));
    expect(first.Messages?.map((m) => m.Body)).toEqual(['again']);
    const poll = await longPoll(url());
    expect(poll.bodies).toEqual(['again']);
    expect(poll.tookMs).toBeLessThan(EARLY_MS);
    for (const handle of poll.handles)
      await client().send(new DeleteMessageCommand({ QueueUrl: url(), ReceiptHandle: handle }));
  });
});
