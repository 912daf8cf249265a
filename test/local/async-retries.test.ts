/**
 * Lambda's asynchronous invocation queue on the local stack, with real SDK clients: an `Event`
 * invoke or an SNS delivery whose handler fails is run again with the same event and request id,
 * as many times as the template's EventInvokeConfig says, and then its failure record lands in
 * the template's on-failure queue, read back with ReceiveMessage from the local SQS endpoint.
 * Lambda's one and two minutes run at a hundredth of their length (`asyncTimeScale`); every
 * other value is the template's. End to end, the real publish handler's idempotency (its id claim
 * and the seq it recorded) makes a retry after a failed attempt deliver the message once.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Duration } from 'aws-cdk-lib';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { MESSAGES_TABLE } from '../../lambdas/shared/tables';
import { ASYNC_RETRY_DELAYS_MS } from '../../local/async-invoke';
import type { InvocationRecord } from '../../local/functions';
import type { Logger } from '../../local/logger';
import type { LocalStack } from '../../local/stack';
import { collect, nextEvent } from '../client/testing/events';
import { nextInvocation, publishOk, stackPerTest, useFaultProxyStack, useTestStack } from './helpers';

/** Lambda's queue at a hundredth of its speed: retries 0.6 s and 1.2 s after a failure. */
const SCALE = 0.01;
const TOPIC_ARN = 'arn:aws:sns:us-east-1:000000000000:push-publish';
/** Long enough for three attempts and their scaled waits on a loaded machine. */
const SETTLE_MS = 15_000;

/** The stack's own log lines, as `level message`. */
const lines: string[] = [];
const logger: Logger = {
  debug() {},
  info() {},
  warn: (message) => lines.push(`warn ${message}`),
  error: (message) => lines.push(`error ${message}`),
};

/** One run of the overridden publish handler. */
interface Call {
  readonly event: unknown;
  readonly requestId: string;
  /** `performance.now()` when it started. */
  readonly at: number;
}

/** Replaces the publish handler with one that fails its first `failures` runs; returns its runs. */
function failing(stack: LocalStack, failures: number): { calls: Call[]; restore: () => void } {
  const calls: Call[] = [];
  const restore = stack.emulator.setHandler('publish', async (event: unknown, context: Context) => {
    calls.push({ event, requestId: context.awsRequestId, at: performance.now() });
    if (calls.length <= failures) throw new TypeError(`attempt ${calls.length} fails`);
    return { ok: true };
  });
  return { calls, restore };
}

function clients(stack: LocalStack) {
  const credentials = { accessKeyId: 'developer', secretAccessKey: 'developer' };
  const options = { endpoint: stack.httpUrl, region: stack.region, credentials, maxAttempts: 1 };
  return { lambda: new LambdaClient(options), sns: new SNSClient(options), sqs: new SQSClient(options) };
}

/** The URL of the publish function's on-failure queue, as the template names it. */
function failureQueue(stack: LocalStack): { url: string; name: string } {
  const queue = stack.deployment.queues[stack.deployment.index.invokeFailureQueue];
  if (queue === undefined) throw new Error('the template has no invoke failure queue');
  expect(stack.deployment.functions.publish.asyncInvoke?.onFailure).toBe(queue.arn);
  return queue;
}

/** The next failure record, long-polled (the wait ends when it arrives), and deleted. */
async function nextRecord(sqs: SQSClient, url: string): Promise<Record<string, unknown>> {
  const deadline = performance.now() + SETTLE_MS;
  while (performance.now() < deadline) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5, MaxNumberOfMessages: 1 }),
    );
    const [message] = Messages ?? [];
    if (message === undefined) continue;
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }));
    return JSON.parse(message.Body ?? '') as Record<string, unknown>;
  }
  throw new Error(`no failure record in ${url} within ${SETTLE_MS} ms`);
}

/** Whether the queue holds no message now. */
async function isEmpty(sqs: SQSClient, url: string): Promise<boolean> {
  const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }));
  return (Messages ?? []).length === 0;
}

/** The record Lambda documents for an event it gave up on after `attempts` attempts. */
function expectedRecord(
  stack: LocalStack,
  requestId: string,
  event: unknown,
  attempts: number,
  condition: string,
) {
  return {
    version: '1.0',
    timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    requestContext: {
      requestId,
      functionArn: `${stack.deployment.functions.publish.arn}:$LATEST`,
      condition,
      approximateInvokeCount: attempts,
    },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: {
      errorType: 'TypeError',
      errorMessage: `attempt ${attempts} fails`,
      trace: expect.arrayContaining([`TypeError: attempt ${attempts} fails`]),
    },
  };
}

afterEach(() => {
  lines.length = 0;
});

describe("with the template's EventInvokeConfig (2 retries, the invoke failure queue)", () => {
  const stack = useTestStack({ asyncTimeScale: SCALE, logger });
  let aws: ReturnType<typeof clients>;
  beforeAll(() => {
    aws = clients(stack);
  });
  afterAll(() => {
    aws?.lambda.destroy();
    aws?.sns.destroy();
    aws?.sqs.destroy();
  });

  it('runs an Event invoke that fails twice three times, with the same event and request id, and sends no record', async () => {
    const { calls, restore } = failing(stack, 2);
    try {
      const payload = { to: { uid: 'retry-a' }, data: 1, id: 'retry-a-1' };
      const succeeded = nextInvocation(stack, 'publish', (r) => r.error === undefined, SETTLE_MS);

      const out = await aws.lambda.send(
        new InvokeCommand({
          FunctionName: 'publish',
          InvocationType: 'Event',
          Payload: JSON.stringify(payload),
        }),
      );
      await succeeded;

      expect(out.StatusCode).toBe(202);
      expect(calls.map((c) => c.event)).toEqual([payload, payload, payload]);
      expect(calls.map((c) => c.requestId)).toEqual(Array(3).fill(out.$metadata.requestId));
      // Lambda's waits, scaled: a minute after the first attempt, two after the second.
      const [first, second, third] = calls.map((c) => c.at) as [number, number, number];
      expect(second - first).toBeGreaterThanOrEqual(ASYNC_RETRY_DELAYS_MS[0] * SCALE - 1);
      expect(third - second).toBeGreaterThanOrEqual(ASYNC_RETRY_DELAYS_MS[1] * SCALE - 1);
      expect(await isEmpty(aws.sqs, failureQueue(stack).url)).toBe(true);
      expect(lines).toEqual([
        'warn async invocation failed (attempt 1 of 3), next in 0.6s',
        'warn async invocation failed (attempt 2 of 3), next in 1.2s',
      ]);
    } finally {
      restore();
    }
  });

  it('sends an SNS delivery that always fails to the failure queue after three attempts, with the documented record', async () => {
    const { calls, restore } = failing(stack, Number.POSITIVE_INFINITY);
    try {
      const queue = failureQueue(stack);
      const message = JSON.stringify({ to: { uid: 'retry-b' }, data: 2, id: 'retry-b-1' });

      await aws.sns.send(new PublishCommand({ TopicArn: TOPIC_ARN, Message: message }));
      const record = await nextRecord(aws.sqs, queue.url);

      expect(calls).toHaveLength(3);
      const [{ event, requestId }] = calls as [Call];
      expect((event as { Records: { Sns: { Message: string } }[] }).Records[0]?.Sns.Message).toBe(message);
      // The same event each time (a fresh copy per attempt, as Lambda deserializes it each time).
      expect(calls.map((c) => c.requestId)).toEqual([requestId, requestId, requestId]);
      expect(calls.map((c) => c.event)).toEqual([event, event, event]);
      expect(record).toEqual(expectedRecord(stack, requestId, event, 3, 'RetriesExhausted'));
      expect(lines.at(-1)).toBe(`error async invocation failed: sent to ${queue.name} after 3 attempts`);
      expect(await isEmpty(aws.sqs, queue.url)).toBe(true);
    } finally {
      restore();
    }
  });
});

describe('a changed CDK app changes what the queue does, with no edit under local/', () => {
  const own = stackPerTest();

  it.each([
    ['publishRetryAttempts 0 invokes once', { publishRetryAttempts: 0 }, 'RetriesExhausted'],
    // The first retry falls due a minute after the first attempt: the event is a minute old.
    [
      'publishMaxEventAge 60 s gives up at the first retry',
      { publishMaxEventAge: Duration.seconds(60) },
      'EventAgeExceeded',
    ],
  ])('%s', async (_, props, condition) => {
    const stack = await own.start({ asyncTimeScale: SCALE, logger, cdk: { props } });
    const aws = clients(stack);
    const { calls, restore } = failing(stack, Number.POSITIVE_INFINITY);
    try {
      const payload = { to: { uid: 'retry-c' }, data: 3 };
      const out = await aws.lambda.send(
        new InvokeCommand({
          FunctionName: 'publish',
          InvocationType: 'Event',
          Payload: JSON.stringify(payload),
        }),
      );
      const record = await nextRecord(aws.sqs, failureQueue(stack).url);

      expect(calls).toHaveLength(1);
      expect(record).toEqual(expectedRecord(stack, out.$metadata.requestId as string, payload, 1, condition));
    } finally {
      restore();
      aws.lambda.destroy();
      aws.sns.destroy();
      aws.sqs.destroy();
    }
  });
});

describe('the real publish handler, retried by the queue', () => {
  const { stack, proxy } = useFaultProxyStack({ asyncTimeScale: SCALE, logger });
  let client: PushClient | undefined;
  afterAll(() => client?.close());

  it('delivers a publish whose first attempt failed after posting once to the client, under the seq that attempt took', async () => {
    const aws = clients(stack);
    const uid = 'retry-e2e';
    const token = async () => {
      const response = await fetch(`${stack.httpUrl}/dev/token?uid=${uid}`);
      return ((await response.json()) as { token: string }).token;
    };
    client = createPushClient({ url: stack.wsUrl, WebSocket, token });
    const received = collect(client);
    await nextEvent(client, 'status', (status) => status === 'open');
    // The first attempt's write of the message to the uid's log is refused; the post beside it
    // goes out, so the attempt fails after the client has the message.
    let refused = 0;
    proxy.faults.plan = (request) => {
      if (request.operation !== 'PutItem' || request.table !== stack.tableNames[MESSAGES_TABLE.id])
        return undefined;
      if (refused > 0) return undefined;
      refused++;
      return 'reject';
    };
    const runs: InvocationRecord[] = [];
    const off = stack.emulator.onInvoke((record) => {
      if (record.functionName === 'publish') runs.push(record);
    });
    try {
      const payload = { to: { uid }, data: 'once', id: 'retry-e2e-1' };
      const retried = nextInvocation(stack, 'publish', (r) => r.error === undefined, SETTLE_MS);
      const postsBefore = stack.emulator.stats.management.requests;

      await aws.lambda.send(
        new InvokeCommand({
          FunctionName: 'publish',
          InvocationType: 'Event',
          Payload: JSON.stringify(payload),
        }),
      );
      const retry = await retried;
      const attempts = [...runs];
      // Posts to one connection arrive in order: once the next publish is in, the retry's post is too.
      await publishOk(stack, { to: { uid }, data: 'next', id: 'retry-e2e-2' });
      await received.until(2);

      expect(refused).toBe(1);
      expect(attempts.map((r) => r.event)).toEqual([payload, payload]);
      expect(String(attempts[0]?.error)).toContain('ValidationException');
      expect(retry.result).toEqual({
        id: 'retry-e2e-1',
        connections: 1,
        delivered: 1,
        gone: 0,
        failed: 0,
        stored: 0,
      });
      // Both attempts posted it (the client dropped the repeat by id), and the next publish once.
      expect(stack.emulator.stats.management.requests - postsBefore).toBe(3);
      expect(received.messages.map((m) => [m.id, m.seq, m.data])).toEqual([
        ['retry-e2e-1', 1, 'once'],
        ['retry-e2e-2', 2, 'next'],
      ]);
      expect(await isEmpty(aws.sqs, failureQueue(stack).url)).toBe(true);
      expect(lines).toContain('warn async invocation failed (attempt 1 of 3), next in 0.6s');
    } finally {
      off();
      proxy.faults.plan = undefined;
      aws.lambda.destroy();
      aws.sns.destroy();
      aws.sqs.destroy();
    }
  });
});
