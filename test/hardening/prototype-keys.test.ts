/**
 * Names a caller chooses, looked up in the local stack's tables of what it serves: a name that is
 * a property every object inherits (`constructor`, `__proto__`, `toString`) must be unknown like
 * any other, never an inherited function run as a handler or an action.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestStack } from '../local/helpers';

const stack = useTestStack();
let lambda: LambdaClient;

beforeAll(() => {
  lambda = new LambdaClient({
    endpoint: stack.httpUrl,
    region: stack.region,
    credentials: { accessKeyId: 'developer', secretAccessKey: 'developer' },
    maxAttempts: 1,
  });
});

afterAll(() => {
  lambda?.destroy();
});

const INHERITED = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];

describe('Lambda Invoke', () => {
  it.each(INHERITED)('answers FunctionName %s with 404 ResourceNotFoundException', async (name) => {
    const error = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: '{}' })).then(
      () => undefined,
      (e: Error & { $metadata: { httpStatusCode?: number } }) => e,
    );
    expect(error?.name).toBe('ResourceNotFoundException');
    expect(error?.$metadata.httpStatusCode).toBe(404);
    expect(error?.message).toBe(`Function not found: arn:aws:lambda:us-east-1:000000000000:function:${name}`);
  });

  it('answers a function name that is not valid percent-encoding with 404, not a 500', async () => {
    const res = await fetch(`${stack.httpUrl}/2015-03-31/functions/%E0/invocations`, {
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ Type: 'User' });
    expect(res.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
  });
});

/** What the local SQS serves, as its refusal of anything else lists it. */
const SERVED =
  'SendMessage, SendMessageBatch, GetQueueUrl, GetQueueAttributes, ReceiveMessage, DeleteMessage, ChangeMessageVisibility';

describe('the SQS endpoint (JSON protocol)', () => {
  it.each(INHERITED)('answers the operation %s as unsupported, with no queue state', async (name) => {
    const res = await fetch(stack.httpUrl, {
      method: 'POST',
      headers: { 'x-amz-target': `AmazonSQS.${name}`, 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({ QueueUrl: stack.shardQueue.url }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      __type: 'com.amazonaws.sqs#UnsupportedOperation',
      message: `The local stack does not serve ${name}; its SQS serves ${SERVED}.`,
    });
  });

  it.each(INHERITED)(
    'answers GetQueueAttributes naming %s as SQS answers an attribute it does not have',
    async (name) => {
      const res = await fetch(stack.httpUrl, {
        method: 'POST',
        headers: {
          'x-amz-target': 'AmazonSQS.GetQueueAttributes',
          'content-type': 'application/x-amz-json-1.0',
        },
        body: JSON.stringify({ QueueUrl: stack.shardQueue.url, AttributeNames: ['QueueArn', name] }),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ message: `Unknown Attribute ${name}.` });
    },
  );
});
