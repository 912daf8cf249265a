/**
 * What the local SQS endpoint takes as message attributes, through the real `@aws-sdk/client-sqs`
 * and raw requests in both protocols: what SQS refuses is refused with its code and nothing is
 * enqueued; what it takes round-trips exactly. And query-protocol requests of many numbered
 * fields are answered as SQS answers them, however many fields they carry.
 */
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SQS_MESSAGE_BYTES } from '../../local/sqs-endpoint';
import { DEVELOPER_SQS_AUTHORIZATION, useTestStack } from './helpers';

const stack = useTestStack();
let sqs: SQSClient;

beforeAll(() => {
  sqs = new SQSClient({ maxAttempts: 1, endpoint: stack.httpUrl });
});

afterAll(() => {
  sqs?.destroy();
});

/** The dead-letter queue: no event source receives from it, so what is sent there stays. */
const queueUrl = () => stack.shardQueue.deadLetterUrl;
const depth = () => stack.shardQueue.stats.deadLetters;

type Refusal = Error & { $metadata: { httpStatusCode: number } };
const refusalOf = (sending: Promise<unknown>) =>
  sending.then(
    () => undefined,
    (error: Refusal) => error,
  );

/** Receives every message of the queue, with all their attributes, and deletes them. */
async function drain() {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl(),
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
    }),
  );
  for (const message of out.Messages ?? [])
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl(), ReceiptHandle: message.ReceiptHandle }));
  return out.Messages ?? [];
}

/** A query-protocol call, signed for `sqs` by the developer's key (IAM allows it). */
function sqsQuery(form: string): Promise<Response> {
  return fetch(`${stack.httpUrl}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: DEVELOPER_SQS_AUTHORIZATION,
    },
    body: form,
  });
}

/** SQS's XML error, as the query protocol answers it. */
const xmlError = (code: string, message: string) =>
  expect.stringContaining(`<Code>${code}</Code><Message>${message}</Message>`);

const text = (StringValue: string, DataType = 'String') => ({ DataType, StringValue });

describe('message attributes SQS refuses, through @aws-sdk/client-sqs', () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      'eleven attributes',
      Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, text('v')])),
      'Number of message attributes [11] exceeds the allowed maximum [10].',
    ],
    [
      'no DataType',
      { x: { StringValue: 'v' } },
      "The message attribute 'x' must contain non-empty message attribute type.",
    ],
    [
      'an unknown DataType',
      { x: text('3', 'Integer') },
      "The message attribute 'x' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
    ],
    [
      'a Number of letters',
      { x: text('abc', 'Number') },
      "Can't cast the value of message (user) attribute 'x' to a number.",
    ],
    [
      'an empty String',
      { x: text('') },
      "Message (user) attribute 'x' must contain a non-empty value of type 'String'.",
    ],
    [
      'a Binary with only a StringValue',
      { x: text('AQI=', 'Binary') },
      "Message (user) attribute 'x' must contain a non-empty value of type 'Binary'.",
    ],
    [
      'a name with a space',
      { 'a b': text('v') },
      'Message (user) attributes name can only contain upper and lower score characters, digits, periods, hyphens and underscores. ',
    ],
    [
      'a name in the AWS. namespace',
      { 'AWS.trace': text('v') },
      "Message (user) attribute name 'AWS.trace' starts with a prefix reserved for AWS (AWS. or Amazon.).",
    ],
  ])('refuses %s with InvalidParameterValue and enqueues nothing', async (_, attributes, message) => {
    const before = depth();

    const error = await refusalOf(
      sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl(),
          MessageBody: 'x',
          MessageAttributes: attributes as never,
        }),
      ),
    );

    expect(error).toMatchObject({
      name: 'InvalidParameterValue',
      message,
      $metadata: { httpStatusCode: 400 },
    });
    expect(depth()).toBe(before);
  });

  it('refuses a null attribute sent as raw JSON, and a receive then answers 200 with nothing', async () => {
    const before = depth();
    const call = (action: string, body: unknown) =>
      fetch(`${stack.httpUrl}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${action}` },
        body: JSON.stringify(body),
      });

    const sent = await call('SendMessage', {
      QueueUrl: queueUrl(),
      MessageBody: 'x',
      MessageAttributes: { x: null },
    });
    const received = await call('ReceiveMessage', { QueueUrl: queueUrl(), MessageAttributeNames: ['All'] });

    expect(sent.status).toBe(400);
    expect(sent.headers.get('x-amzn-query-error')).toBe('InvalidParameterValue;Sender');
    expect(await sent.json()).toEqual({
      __type: 'com.amazonaws.sqs#InvalidParameterValue',
      message: "The message attribute 'x' must contain non-empty message attribute type.",
    });
    expect(depth()).toBe(before);
    expect(received.status).toBe(200);
    expect(await received.json()).toEqual({ Messages: [] });
  });

  it('counts the attributes toward the message size: name, type and value bytes', async () => {
    // 'k' + 'String' + 'v' are 8 bytes.
    const atLimit = 'x'.repeat(MAX_SQS_MESSAGE_BYTES - 8);
    const error = await refusalOf(
      sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl(),
          MessageBody: `${atLimit}x`,
          MessageAttributes: { k: text('v') },
        }),
      ),
    );
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl(),
        MessageBody: atLimit,
        MessageAttributes: { k: text('v') },
      }),
    );

    expect(error).toMatchObject({
      name: 'InvalidParameterValue',
      message: `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_SQS_MESSAGE_BYTES} bytes.`,
    });
    expect((await drain()).map((m) => m.MessageId)).toEqual([sent.MessageId]);
  });

  it('fails only the batch entry whose attributes SQS refuses, and sends the others', async () => {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl(),
        Entries: [
          { Id: 'good', MessageBody: 'fine', MessageAttributes: { k: text('v') } },
          { Id: 'bad', MessageBody: 'x', MessageAttributes: { k: text('1', 'Integer') } },
        ],
      }),
    );

    expect(out.Successful?.map((s) => s.Id)).toEqual(['good']);
    expect(out.Failed).toEqual([
      {
        Id: 'bad',
        SenderFault: true,
        Code: 'InvalidParameterValue',
        Message:
          "The message attribute 'k' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
      },
    ]);
    expect((await drain()).map((m) => m.Body)).toEqual(['fine']);
  });
});

describe('message attributes SQS takes', () => {
  it('round-trips String, Number, Binary and labelled attributes exactly', async () => {
    const attributes = {
      s: text('é ✓'),
      n: text('-1.5e3', 'Number'),
      b: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 1, 255]) },
      'label.json': text('{"a":1}', 'String.json'),
    };

    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl(),
        MessageBody: 'with attributes',
        MessageAttributes: attributes,
      }),
    );
    const [received, ...others] = await drain();

    expect(others).toEqual([]);
    expect(received).toMatchObject({ MessageId: sent.MessageId, Body: 'with attributes' });
    expect(received?.MessageAttributes).toEqual(attributes);
  });

  it('takes attributes in the query protocol as in the JSON protocol', async () => {
    const response = await sqsQuery(
      `Action=SendMessage&QueueUrl=${encodeURIComponent(queueUrl())}&MessageBody=q` +
        '&MessageAttribute.1.Name=kind&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=job' +
        '&MessageAttribute.2.Name=raw&MessageAttribute.2.Value.DataType=Binary&MessageAttribute.2.Value.BinaryValue=AAH%2F',
    );

    expect(response.status).toBe(200);
    const [received] = await drain();
    expect(received?.MessageAttributes).toEqual({
      kind: { DataType: 'String', StringValue: 'job' },
      raw: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 1, 255]) },
    });
  });

  it('refuses an attribute with no DataType in the query protocol, with the same code and words', async () => {
    const before = depth();

    const response = await sqsQuery(
      `Action=SendMessage&QueueUrl=${encodeURIComponent(queueUrl())}&MessageBody=q` +
        '&MessageAttribute.1.Name=x&MessageAttribute.1.Value.StringValue=v',
    );

    expect(response.status).toBe(400);
    expect(await response.text()).toEqual(
      xmlError(
        'InvalidParameterValue',
        'The message attribute &#39;x&#39; must contain non-empty message attribute type.',
      ),
    );
    expect(depth()).toBe(before);
  });
});

describe('query-protocol requests of 20,000 numbered fields', () => {
  const COUNT = 20_000;
  const fields = (field: (n: number) => string) =>
    Array.from({ length: COUNT }, (_, i) => field(i + 1)).join('&');
  const queue = () => `QueueUrl=${encodeURIComponent(queueUrl())}`;

  it('refuses a batch of 20,000 entries with TooManyEntriesInBatchRequest, enqueuing nothing', async () => {
    const before = depth();

    const response = await sqsQuery(
      `Action=SendMessageBatch&${queue()}&${fields((n) => `SendMessageBatchRequestEntry.${n}.Id=e${n}`)}`,
    );

    expect(response.status).toBe(400);
    expect(await response.text()).toEqual(
      xmlError(
        'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
        `Maximum number of entries per request are 10. You have sent ${COUNT}.`,
      ),
    );
    expect(depth()).toBe(before);
  });

  it('refuses a message of 20,000 attributes with InvalidParameterValue, enqueuing nothing', async () => {
    const before = depth();

    const response = await sqsQuery(
      `Action=SendMessage&${queue()}&MessageBody=m&` +
        fields(
          (n) =>
            `MessageAttribute.${n}.Name=a${n}&MessageAttribute.${n}.Value.DataType=String&MessageAttribute.${n}.Value.StringValue=v`,
        ),
    );

    expect(response.status).toBe(400);
    expect(await response.text()).toEqual(
      xmlError(
        'InvalidParameterValue',
        `Number of message attributes [${COUNT}] exceeds the allowed maximum [10].`,
      ),
    );
    expect(depth()).toBe(before);
  });

  it('answers GetQueueAttributes naming 20,000 attribute names, as SQS sets them no count', async () => {
    const names = ['VisibilityTimeout', 'DelaySeconds', 'QueueArn'];
    const response = await sqsQuery(
      `Action=GetQueueAttributes&${queue()}&${fields((n) => `AttributeName.${n}=${names[n % names.length]}`)}`,
    );

    expect(response.status).toBe(200);
    expect(await response.text()).toContain(
      `<Attribute><Name>QueueArn</Name><Value>${stack.shardQueue.arn}-dlq</Value></Attribute>`,
    );
  });

  it('refuses GetQueueAttributes naming an attribute SQS does not have, in either protocol', async () => {
    // It used to answer as if the name had not been given.
    const response = await sqsQuery(
      `Action=GetQueueAttributes&${queue()}&AttributeName.1=QueueArn&AttributeName.2=Nope`,
    );
    expect(response.status).toBe(400);
    expect(await response.text()).toEqual(xmlError('InvalidAttributeName', 'Unknown Attribute Nope.'));
    const error = await refusalOf(
      sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl(), AttributeNames: ['Nope' as 'All'] })),
    );
    expect(error).toMatchObject({ name: 'InvalidAttributeName', message: 'Unknown Attribute Nope.' });
  });
});
