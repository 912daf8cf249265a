/**
 * ChangeMessageVisibility on the local SQS endpoint, through the real `@aws-sdk/client-sqs` (and
 * one call in the query protocol): the worker sets a failed shard job's backoff with it. A handle
 * of the message's latest receive hides the message for the time asked (0 hands it out again at
 * once); a stale handle, a message no longer in flight and a timeout outside 0 to 43,200 s get
 * SQS's own errors, and change nothing.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  MessageNotInflight,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type SQSServiceException,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEVELOPER_SQS_AUTHORIZATION, useTestStack } from './helpers';

const stack = useTestStack();
let sqs: SQSClient | undefined;
/** Handles of the messages a test still holds, deleted after it. */
const held: string[] = [];

afterEach(async () => {
  for (const handle of held.splice(0)) {
    await client()
      .send(new DeleteMessageCommand({ QueueUrl: queueUrl(), ReceiptHandle: handle }))
      .catch(() => undefined);
  }
});
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
function queueUrl(): string {
  const queue = stack.deployment.queues[stack.deployment.index.invokeFailureQueue];
  if (queue === undefined) throw new Error('the template has no invoke failure queue');
  return queue.url;
}

/** Receives what the queue holds visible now (one message at most). */
async function receive(visibilityTimeout?: number) {
  const { Messages = [] } = await client().send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl(),
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      ...(visibilityTimeout === undefined ? {} : { VisibilityTimeout: visibilityTimeout }),
    }),
  );
  for (const m of Messages) held.push(m.ReceiptHandle as string);
  return Messages;
}

/** Sends `body` and receives it: its receipt handle. */
async function received(body: string): Promise<string> {
  await client().send(new SendMessageCommand({ QueueUrl: queueUrl(), MessageBody: body }));
  const [message] = await receive();
  expect(message?.Body).toBe(body);
  return message?.ReceiptHandle as string;
}

function changeVisibility(handle: string, seconds: number) {
  return client().send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: queueUrl(),
      ReceiptHandle: handle,
      VisibilityTimeout: seconds,
    }),
  );
}

/** The error a call failed with. */
async function refusal(call: Promise<unknown>): Promise<SQSServiceException> {
  return call.then(
    () => {
      throw new Error('the call succeeded');
    },
    (error: SQSServiceException) => error,
  );
}

async function counts(): Promise<{ visible: string | undefined; inFlight: string | undefined }> {
  const { Attributes = {} } = await client().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl(),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Attributes.ApproximateNumberOfMessages,
    inFlight: Attributes.ApproximateNumberOfMessagesNotVisible,
  };
}

describe('ChangeMessageVisibility', () => {
  it('hides a message for the time asked by its latest receipt handle, and 0 hands it out again at once', async () => {
    const handle = await received('backoff-1');

    expect((await changeVisibility(handle, 0)).$metadata.httpStatusCode).toBe(200);
    const [again] = await receive();
    expect(again).toMatchObject({ Body: 'backoff-1', Attributes: { ApproximateReceiveCount: '2' } });

    await changeVisibility(again?.ReceiptHandle as string, 43_200);
    expect(await receive()).toEqual([]);
    expect(await counts()).toEqual({ visible: '0', inFlight: '1' });
  });

  it('refuses the handle of an earlier receive, and of a deleted message, as SQS does', async () => {
    const first = await received('backoff-2');
    await changeVisibility(first, 0);
    const [again] = await receive();
    const reason = 'Reason: Message does not exist or is not available for visibility timeout change.';

    const stale = await refusal(changeVisibility(first, 10));
    expect(stale).toMatchObject({ name: 'InvalidParameterValue', $metadata: { httpStatusCode: 400 } });
    expect(stale.message).toBe(`Value ${first} for parameter ReceiptHandle is invalid. ${reason}`);
    // The receive that holds it now is untouched.
    expect(await counts()).toEqual({ visible: '0', inFlight: '1' });

    await client().send(
      new DeleteMessageCommand({ QueueUrl: queueUrl(), ReceiptHandle: again?.ReceiptHandle as string }),
    );
    const deleted = await refusal(changeVisibility(again?.ReceiptHandle as string, 10));
    expect(deleted).toMatchObject({ name: 'InvalidParameterValue' });
    expect(deleted.message).toContain(reason);
  });

  it('answers MessageNotInflight for a message whose visibility timeout has passed', async () => {
    // Received with a visibility timeout of 0: visible again at once, and no longer in flight.
    await client().send(new SendMessageCommand({ QueueUrl: queueUrl(), MessageBody: 'backoff-3' }));
    const [message] = await receive(0);

    const error = await refusal(changeVisibility(message?.ReceiptHandle as string, 10));
    expect(error).toBeInstanceOf(MessageNotInflight);
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(await counts()).toEqual({ visible: '1', inFlight: '0' });
  });

  it('answers ReceiptHandleIsInvalid for a string no receive handed out', async () => {
    const error = await refusal(changeVisibility('not-a-handle', 10));

    expect(error).toBeInstanceOf(ReceiptHandleIsInvalid);
    expect(error.$metadata.httpStatusCode).toBe(404);
    expect(error.message).toBe('The input receipt handle "not-a-handle" is not a valid receipt handle.');
  });

  it.each([43_201, -1, 1.5])(
    'refuses a visibility timeout of %s, outside 0 to 43,200 s, and changes nothing',
    async (seconds) => {
      const handle = await received(`backoff-range-${seconds}`);

      const error = await refusal(changeVisibility(handle, seconds));
      expect(error).toMatchObject({ name: 'InvalidParameterValue', $metadata: { httpStatusCode: 400 } });
      expect(error.message).toBe(
        `Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.`,
      );
      expect(await counts()).toEqual({ visible: '0', inFlight: '1' });
    },
  );

  it('answers in the query protocol too, with an empty result or SQS’s XML error', async () => {
    const handle = await received('backoff-query');
    const call = (receiptHandle: string) =>
      fetch(stack.httpUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: DEVELOPER_SQS_AUTHORIZATION,
        },
        body: new URLSearchParams({
          Action: 'ChangeMessageVisibility',
          QueueUrl: queueUrl(),
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: '0',
        }).toString(),
      });

    const ok = await call(handle);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain(
      '<ChangeMessageVisibilityResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">',
    );
    // Visible again at once: the handle no longer holds a message in flight.
    const refused = await call(handle);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('<Code>AWS.SimpleQueueService.MessageNotInflight</Code>');
  });
});
