/**
 * Publishing into the running local stack: `POST /publish`, Lambda Invoke through
 * `@aws-sdk/client-lambda` and SNS Publish through `@aws-sdk/client-sns`, the fan-out to real
 * sockets, and the stale-record cleanup after a lost `$disconnect`.
 */
import { once } from 'node:events';
import { request } from 'node:http';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { SNSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import type { LocalStack } from '../../local/stack';
import { within } from '../support/within';
import {
  closeOpenSockets,
  connect,
  nextInvocation,
  postJson,
  recordsOf,
  startTestStack,
  type TestSocket,
} from './helpers';

let stack: LocalStack;
let lambda: LambdaClient;
let sns: SNSClient;

beforeAll(async () => {
  // Sockets here are seconds old; a 410 from one must still clean its records up (see the
  // connect grace in lambdas/core/publish.ts, which the recovery tests cover).
  stack = await startTestStack({ environment: { [ENV.connectGraceMs]: '0' } });
  lambda = new LambdaClient({ endpoint: stack.httpUrl });
  sns = new SNSClient({ endpoint: stack.httpUrl });
});

afterEach(closeOpenSockets);

afterAll(async () => {
  lambda?.destroy();
  sns?.destroy();
  await stack?.stop();
});

/** Proves `socket` received nothing so far: a ping's pong must be the next frame. */
async function expectNothingReceived(socket: TestSocket): Promise<void> {
  expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
}

async function closeAll(sockets: readonly TestSocket[]): Promise<void> {
  await Promise.all(sockets.map((socket) => socket.close()));
}

const decode = (payload: Uint8Array | undefined) => JSON.parse(Buffer.from(payload ?? []).toString('utf8'));

describe('POST /publish', () => {
  it('pushes a uid publish to all three sockets of that uid and to no one else', async () => {
    const mine = await Promise.all([1, 2, 3].map(() => connect(stack, 'pub-u1')));
    const other = await connect(stack, 'pub-u2');

    const { status, body } = await postJson(stack, '/publish', {
      to: { uid: 'pub-u1' },
      data: { orderId: 42 },
      id: 'order-42',
    });

    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 'order-42', connections: 3, delivered: 3, gone: 0, failed: 0 });
    for (const socket of mine) {
      expect(await socket.nextJson()).toMatchObject({
        type: 'message',
        id: 'order-42',
        data: { orderId: 42 },
        ts: expect.any(Number),
      });
    }
    await expectNothingReceived(other);
    await closeAll([...mine, other]);
  });

  it('pushes a topic publish to subscribers only, naming the topic in the frame', async () => {
    const subscriber = await connect(stack, 'pub-sub', { topics: ['orders'] });
    await subscriber.request({ action: 'subscribe', topic: 'orders' });
    const bystander = await connect(stack, 'pub-bystander', { topics: ['orders'] });

    const { body } = await postJson(stack, '/publish', { to: { topic: 'orders' }, data: 'new order' });

    expect(body).toMatchObject({ connections: 1, delivered: 1 });
    expect(await subscriber.nextJson()).toMatchObject({
      type: 'message',
      topic: 'orders',
      data: 'new order',
    });
    await expectNothingReceived(bystander);
    await closeAll([subscriber, bystander]);
  });

  it('broadcasts to every open connection', async () => {
    const sockets = await Promise.all(
      ['pub-all-1', 'pub-all-2', 'pub-all-3'].map((uid) => connect(stack, uid)),
    );

    const { body } = await postJson(stack, '/publish', {
      to: { all: true },
      data: { notice: 'maintenance' },
    });

    expect(body).toMatchObject({
      connections: stack.emulator.connectionIds().length,
      delivered: 3,
      failed: 0,
    });
    for (const socket of sockets) {
      expect(await socket.nextJson()).toMatchObject({ type: 'message', data: { notice: 'maintenance' } });
    }
    await closeAll(sockets);
  });

  it('publishes a batch: each item reaches its audience, a uid gets its items in batch order, and each result comes back in place', async () => {
    const first = await connect(stack, 'batch-u1');
    const second = await connect(stack, 'batch-u2');
    const subscriber = await connect(stack, 'batch-sub', { topics: ['batch-orders'] });
    await subscriber.request({ action: 'subscribe', topic: 'batch-orders' });

    const { status, body } = await postJson(stack, '/publish', {
      batch: [
        { to: { uid: 'batch-u1' }, data: 'one', id: 'batch-1' },
        { to: { uid: 'batch-u2' }, data: 'for u2', id: 'batch-2' },
        { to: { topic: 'batch-orders' }, data: 'for subscribers', id: 'batch-3' },
        { to: { uid: 'batch-u1' }, data: 'two', id: 'batch-4' },
        { to: { uid: 'batch-nobody' }, data: 'kept', id: 'batch-5' },
      ],
    });

    expect(status).toBe(200);
    expect(body).toEqual({
      results: [
        { id: 'batch-1', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        { id: 'batch-2', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        { id: 'batch-3', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        { id: 'batch-4', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        { id: 'batch-5', connections: 0, delivered: 0, gone: 0, failed: 0, stored: 1 },
      ],
    });
    const one = await first.nextJson();
    const two = await first.nextJson();
    expect([one, two]).toMatchObject([
      { type: 'message', id: 'batch-1', data: 'one' },
      { type: 'message', id: 'batch-4', data: 'two' },
    ]);
    expect(two.seq).toBe(Number(one.seq) + 1);
    expect(await second.nextJson()).toMatchObject({ type: 'message', id: 'batch-2', data: 'for u2' });
    expect(await subscriber.nextJson()).toMatchObject({
      type: 'message',
      id: 'batch-3',
      topic: 'batch-orders',
      data: 'for subscribers',
    });
    await expectNothingReceived(second);
    await closeAll([first, second, subscriber]);
  });

  it('refuses a batch with one bad item with 400 naming the item, and delivers none of it', async () => {
    const socket = await connect(stack, 'batch-refused');

    const res = await postJson(stack, '/publish', {
      batch: [
        { to: { uid: 'batch-refused' }, data: 'valid' },
        { to: { uid: 'batch-refused' }, data: 'valid too' },
        { to: { uid: 'batch-refused', topic: 'x' }, data: 'invalid' },
      ],
    });

    expect(res).toEqual({
      status: 400,
      body: {
        error: {
          code: 'bad_request',
          message: 'batch[2]: to must have exactly one of uid, uids, topic, all',
        },
      },
    });
    await expectNothingReceived(socket);
    // Nothing was logged for a resume either.
    expect(await socket.request({ action: 'resume', since: 0 })).toMatchObject({ type: 'resumed' });
    await expectNothingReceived(socket);
    await socket.close();
  });

  it.each([
    ['a body that is not JSON', '{"to":', 400, { code: 'bad_request', message: 'body is not valid JSON' }],
    ['a JSON string', '"x"', 400, { code: 'bad_request', message: 'body must be a JSON object' }],
    [
      'a JSON string holding a publish body (JSON inside JSON)',
      JSON.stringify(JSON.stringify({ to: { uid: 'u1' }, data: 1 })),
      400,
      { code: 'bad_request', message: 'body must be a JSON object' },
    ],
    ['a body without a target', { data: 1 }, 400, { code: 'bad_request', message: 'to is required' }],
    [
      'data holding a number JSON cannot carry',
      '{"to":{"uid":"u1"},"data":{"total":1e400}}',
      400,
      {
        code: 'bad_request',
        message: 'data holds a number too large for JSON (such as 1e400), which would arrive as null',
      },
    ],
    [
      'data over the size limit',
      { to: { all: true }, data: 'x'.repeat(LIMITS.maxDataBytes) },
      413,
      { code: 'payload_too_large', message: expect.stringContaining('exceeds') },
    ],
  ])('answers %s with its status and error body', async (_case, body, status, error) => {
    const res = await postJson(stack, '/publish', body);

    expect(res).toEqual({ status, body: { error } });
  });

  it("takes a body its client abandons halfway for the client's doing: logged at debug, never as a failure", async () => {
    const logged: string[] = [];
    let abandoned!: () => void;
    const seen = new Promise<void>((resolve) => {
      abandoned = resolve;
    });
    const record = (level: string) => (message: string) => {
      logged.push(`${level} ${message}`);
      if (message === 'request abandoned by its client') abandoned();
    };
    const own = await startTestStack({
      logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    });
    try {
      const req = request({
        host: '127.0.0.1',
        port: own.port,
        method: 'POST',
        path: '/publish',
        // With 100-continue the stack has taken the request in when the client hears `continue`.
        headers: { 'content-type': 'application/json', 'content-length': '100', expect: '100-continue' },
      });
      req.on('error', () => {});
      await once(req, 'continue');
      req.write('{"to":{"uid":');
      req.destroy();
      await within(seen, 5_000, 'the abandoned request to be logged');
      expect(logged.filter((line) => !line.startsWith('debug'))).not.toContainEqual(
        expect.stringMatching(/request failed/),
      );
    } finally {
      await own.stop();
    }
  });

  it('answers a body that is not UTF-8 with 400 bad_request, and sends nothing', async () => {
    const socket = await connect(stack, 'post-utf8');
    const res = await fetch(`${stack.httpUrl}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.concat([
        Buffer.from('{"to":{"uid":"post-utf8"},"data":"'),
        Buffer.from([0xc3]),
        Buffer.from('"}'),
      ]),
    });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 400,
      body: { error: { code: 'bad_request', message: 'body is not valid UTF-8' } },
    });
    await expectNothingReceived(socket);
    await socket.close();
  });

  it('answers 503 with an error body when the handler throws unavailable', async () => {
    const restore = stack.emulator.setHandler('publish', async () => {
      throw Object.assign(new Error('DynamoDB unavailable during Query'), { code: 'unavailable' });
    });
    try {
      const res = await postJson(stack, '/publish', { to: { uid: 'x' }, data: 1 });
      expect(res).toEqual({
        status: 503,
        body: { error: { code: 'unavailable', message: 'DynamoDB unavailable during Query' } },
      });
    } finally {
      restore();
    }
  });

  it('answers 503 unavailable, naming the error, when the handler fails with no code of the service (a bug, a crash)', async () => {
    // Through Invoke the same failure is a function error, which lambdaPublisher reports as
    // unavailable: both fronts say the same.
    const restore = stack.emulator.setHandler('publish', async () => {
      throw new TypeError('boom');
    });
    try {
      const res = await postJson(stack, '/publish', { to: { uid: 'x' }, data: 1 });
      expect(res).toEqual({
        status: 503,
        body: {
          error: {
            code: 'unavailable',
            message: 'the publish function failed: TypeError: boom; retry with the same id',
          },
        },
      });
    } finally {
      restore();
    }
  });

  it('answers 503 unavailable to each publish whose id an attempt still running holds, and 200 to that attempt', async () => {
    const socket = await connect(stack, 'same-id-u1');
    // Posts slow enough that the first attempt still holds the id when the others claim it.
    const latency = stack.emulator.managementLatencyMs;
    stack.emulator.managementLatencyMs = 500;
    try {
      const body = { to: { uid: 'same-id-u1' }, data: { n: 1 }, id: 'same-id-1' };
      const answers = await Promise.all(Array.from({ length: 5 }, () => postJson(stack, '/publish', body)));
      const refused = {
        status: 503,
        body: {
          error: {
            code: 'unavailable',
            message: 'publish same-id-1 is still running; retry once it has finished',
          },
        },
      };
      expect(answers.filter((answer) => answer.status === 503)).toEqual([refused, refused, refused, refused]);
      expect(answers.filter((answer) => answer.status === 200)).toEqual([
        { status: 200, body: expect.objectContaining({ id: 'same-id-1', delivered: 1 }) },
      ]);
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'same-id-1', data: { n: 1 } });
    } finally {
      stack.emulator.managementLatencyMs = latency;
    }
    await expectNothingReceived(socket);
  });

  it.each([
    ['GET /publish', '/publish', 'GET', 'POST', 'use POST'],
    [
      'POST /publish/<id>',
      '/publish/some-id',
      'POST',
      'GET',
      "use GET: /publish/<id> reads a sharded publish's status; publish with POST /publish",
    ],
  ])('answers %s with 405, an Allow header and bad_request', async (_case, path, method, allow, message) => {
    const res = await fetch(`${stack.httpUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: '{}' } : {}),
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expect(await res.json()).toEqual({ error: { code: 'bad_request', message } });
  });
});

describe('Lambda Invoke through @aws-sdk/client-lambda', () => {
  it('invokes publish synchronously and returns its result as the payload', async () => {
    const socket = await connect(stack, 'lambda-u1');

    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'publish',
        Payload: JSON.stringify({ to: { uid: 'lambda-u1' }, data: { n: 1 } }),
      }),
    );

    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBeUndefined();
    expect(out.ExecutedVersion).toBe('$LATEST');
    expect(decode(out.Payload)).toMatchObject({ connections: 1, delivered: 1 });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', data: { n: 1 } });
    await socket.close();
  });

  it('refuses a payload that is not UTF-8 as Lambda does, InvalidRequestContentException, and runs nothing', async () => {
    const socket = await connect(stack, 'lambda-utf8');
    // {"to":{"uid":"lambda-utf8"},"data":"<0xff>"}: Buffer's decoding would have sent U+FFFD.
    const payload = Buffer.concat([
      Buffer.from('{"to":{"uid":"lambda-utf8"},"data":"'),
      Buffer.from([0xff]),
      Buffer.from('"}'),
    ]);
    await expect(
      lambda.send(new InvokeCommand({ FunctionName: 'publish', Payload: payload })),
    ).rejects.toMatchObject({
      name: 'InvalidRequestContentException',
      message: expect.stringContaining('Could not parse request body into json'),
      $metadata: { httpStatusCode: 400 },
    });
    await expectNothingReceived(socket);
    await socket.close();
  });

  it('invokes publish with a batch and returns every result in the payload', async () => {
    const sockets = await Promise.all(['lambda-b1', 'lambda-b2'].map((uid) => connect(stack, uid)));

    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'publish',
        Payload: JSON.stringify({
          batch: [
            { to: { uid: 'lambda-b1' }, data: 1, id: 'lb-1' },
            { to: { uid: 'lambda-b2' }, data: 2, id: 'lb-2' },
          ],
        }),
      }),
    );

    expect(out.FunctionError).toBeUndefined();
    expect(decode(out.Payload)).toEqual({
      results: [
        { id: 'lb-1', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        { id: 'lb-2', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
      ],
    });
    expect(await sockets[0]?.nextJson()).toMatchObject({ type: 'message', id: 'lb-1', data: 1 });
    expect(await sockets[1]?.nextJson()).toMatchObject({ type: 'message', id: 'lb-2', data: 2 });
    await closeAll(sockets);
  });

  it("gives a publish without an id the invocation's request id, as the answer names it", async () => {
    const socket = await connect(stack, 'lambda-noid');

    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'publish',
        Payload: JSON.stringify({ to: { uid: 'lambda-noid' }, data: 1 }),
      }),
    );

    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(decode(out.Payload)).toMatchObject({ id: out.$metadata.requestId, delivered: 1 });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: out.$metadata.requestId });
    await socket.close();
  });

  it('accepts the function ARN and returns input errors in the payload, not as a function error', async () => {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:publish',
        Payload: JSON.stringify({ to: { uid: '' }, data: 1 }),
      }),
    );

    expect(out.FunctionError).toBeUndefined();
    expect(decode(out.Payload)).toEqual({
      error: {
        code: 'bad_request',
        message:
          'to.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
      },
    });
  });

  it('runs an Event invocation asynchronously and answers 202', async () => {
    const socket = await connect(stack, 'lambda-async');

    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'publish',
        InvocationType: 'Event',
        Payload: JSON.stringify({ to: { uid: 'lambda-async' }, data: 'later' }),
      }),
    );

    expect(out.StatusCode).toBe(202);
    expect(await socket.nextJson()).toMatchObject({ type: 'message', data: 'later' });
    await socket.close();
  });

  it('reports a thrown error as FunctionError Unhandled with the error in the payload', async () => {
    const restore = stack.emulator.setHandler('publish', async () => {
      throw new TypeError('broken');
    });
    try {
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'publish', Payload: '{}' }));
      expect(out.StatusCode).toBe(200);
      expect(out.FunctionError).toBe('Unhandled');
      expect(decode(out.Payload)).toMatchObject({ errorType: 'TypeError', errorMessage: 'broken' });
    } finally {
      restore();
    }
  });

  it('raises ResourceNotFoundException for a function the stack does not host', async () => {
    const error = await lambda
      .send(new InvokeCommand({ FunctionName: 'no-such-function', Payload: '{}' }))
      .then(
        () => undefined,
        (e: Error & { $metadata: { httpStatusCode?: number } }) => e,
      );

    expect(error?.name).toBe('ResourceNotFoundException');
    expect(error?.$metadata.httpStatusCode).toBe(404);
    expect(error?.message).toBe(
      'Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-function',
    );
  });
});

describe('SNS Publish through @aws-sdk/client-sns', () => {
  const topicArn = 'arn:aws:sns:us-east-1:000000000000:push-publish';

  /**
   * Publishes to `uid` with `attributes`, then a plain publish to `<uid>-after` once the first has
   * been answered, and waits for that one's invocation: the SNS error of the first (undefined if it
   * was taken), and the uids the publish handler was invoked for meanwhile, from its SNS events.
   */
  async function refusedThenAfter(
    uid: string,
    attributes: Record<string, { DataType: string; StringValue: string }>,
  ): Promise<{ error: (Error & { $metadata?: { httpStatusCode?: number } }) | undefined; uids: string[] }> {
    const uids: string[] = [];
    const off = stack.emulator.onInvoke((r) => {
      if (r.functionName !== 'publish') return;
      for (const record of (r.event as SNSEvent).Records ?? [])
        uids.push(JSON.parse(record.Sns.Message).to?.uid);
    });
    try {
      const error = await sns
        .send(
          new PublishCommand({
            TopicArn: topicArn,
            Message: JSON.stringify({ to: { uid }, data: 1 }),
            MessageAttributes: attributes,
          }),
        )
        .then(
          () => undefined,
          (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
        );
      // A publish sent after it is invoked; a refused one never was.
      const after = nextInvocation(stack, 'publish', (r) => JSON.stringify(r.event).includes(`${uid}-after`));
      await sns.send(
        new PublishCommand({
          TopicArn: topicArn,
          Message: JSON.stringify({ to: { uid: `${uid}-after` }, data: 1 }),
        }),
      );
      await after;
      return { error, uids };
    } finally {
      off();
    }
  }

  it('returns a MessageId and delivers the message to the publish handler as an SNS event', async () => {
    const socket = await connect(stack, 'sns-u1');
    const invoked = nextInvocation(stack, 'publish');
    const message = JSON.stringify({ to: { uid: 'sns-u1' }, data: { via: 'sns' } });

    const out = await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: message,
        Subject: 'order',
        MessageAttributes: { tenant: { DataType: 'String', StringValue: 'acme' } },
      }),
    );

    expect(out.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    // With no id of its own, the publish takes the SNS message id, which SNS's retries keep.
    expect(await socket.nextJson()).toMatchObject({
      type: 'message',
      id: out.MessageId,
      data: { via: 'sns' },
    });
    const record = await invoked;
    expect(record.event).toEqual({
      Records: [
        {
          EventSource: 'aws:sns',
          EventVersion: '1.0',
          EventSubscriptionArn: expect.stringMatching(`^${topicArn}:`),
          Sns: expect.objectContaining({
            Type: 'Notification',
            MessageId: out.MessageId,
            TopicArn: topicArn,
            Subject: 'order',
            Message: message,
            MessageAttributes: { tenant: { Type: 'String', Value: 'acme' } },
          }),
        },
      ],
    });
    expect(record.result).toMatchObject({ rejected: 0, results: [{ connections: 1, delivered: 1 }] });
    await socket.close();
  });

  it('raises InvalidParameterValueException for a message attribute of a type SNS does not have, and publishes nothing', async () => {
    const events: string[] = [];
    const off = stack.emulator.onInvoke(
      (r) => r.functionName === 'publish' && events.push(JSON.stringify(r.event)),
    );
    const error = await sns
      .send(
        new PublishCommand({
          TopicArn: topicArn,
          Message: JSON.stringify({ to: { uid: 'sns-attr' }, data: 1 }),
          MessageAttributes: {
            tenant: { DataType: 'String', StringValue: 'acme' },
            count: { DataType: 'Integer', StringValue: '3' },
          },
        }),
      )
      .then(
        () => undefined,
        (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
      );

    expect(error).toMatchObject({
      name: 'InvalidParameterValueException',
      message:
        "The message attribute 'count' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
      $metadata: { httpStatusCode: 400 },
    });
    // A publish sent after it is invoked; the refused one never was.
    const after = nextInvocation(stack, 'publish', (r) => JSON.stringify(r.event).includes('sns-attr-after'));
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: JSON.stringify({ to: { uid: 'sns-attr-after' }, data: 1 }),
      }),
    );
    await after;
    off();
    expect(events.filter((e) => e.includes('sns-attr'))).toHaveLength(1);
    expect(events.some((e) => e.includes('sns-attr-after'))).toBe(true);
  });

  it.each([
    ['letters', 'abc'],
    ['hex', '0x10'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['a leading space', ' 7'],
    ['a decimal comma', '1,5'],
  ])(
    'raises InvalidParameterValueException for a Number attribute holding %s, and publishes nothing',
    async (label, value) => {
      const uid = `sns-number-${label.replace(/\W/g, '-')}`;
      const { error, uids } = await refusedThenAfter(uid, {
        tenant: { DataType: 'String', StringValue: 'acme' },
        price: { DataType: 'Number', StringValue: value },
      });
      expect(error).toMatchObject({
        name: 'InvalidParameterValueException',
        message: "Could not cast message attribute 'price' value to number.",
        $metadata: { httpStatusCode: 400 },
      });
      expect(uids).toContain(`${uid}-after`);
      expect(uids).not.toContain(uid);
    },
  );

  it('passes Number attributes holding decimal numbers on to the handler as SNS does', async () => {
    const values = ['42', '-1.5e3', '+7', '.5', '5.', '1E-3'];
    const invoked = nextInvocation(stack, 'publish', (r) => JSON.stringify(r.event).includes('sns-numbers'));
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: JSON.stringify({ to: { uid: 'sns-numbers' }, data: 1 }),
        MessageAttributes: Object.fromEntries(
          values.map((v, i) => [`n${i}`, { DataType: 'Number', StringValue: v }]),
        ),
      }),
    );
    const event = (await invoked).event as SNSEvent;
    expect(event.Records[0]?.Sns.MessageAttributes).toEqual(
      Object.fromEntries(values.map((v, i) => [`n${i}`, { Type: 'Number', Value: v }])),
    );
  });

  it('counts message attributes toward the 256 KB limit: 5,000 of them over it are refused and nothing is published', async () => {
    const uid = 'sns-many-attributes';
    // Each is 5 + 6 + 60 bytes (name, type, value): 355,000 bytes in all.
    const attributes = Object.fromEntries(
      Array.from({ length: 5_000 }, (_, i) => [
        `a${String(i).padStart(4, '0')}`,
        { DataType: 'String', StringValue: 'v'.repeat(60) },
      ]),
    );

    const { error, uids } = await refusedThenAfter(uid, attributes);

    expect(error).toMatchObject({
      name: 'InvalidParameterException',
      message: 'Invalid parameter: Message too long',
      $metadata: { httpStatusCode: 400 },
    });
    expect(uids).toEqual([`${uid}-after`]);
  });

  it('passes more than ten message attributes on, as SNS sets no count on them', async () => {
    const attributes = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`a${i}`, { DataType: 'String', StringValue: `v${i}` }]),
    );
    const invoked = nextInvocation(stack, 'publish', (r) => JSON.stringify(r.event).includes('sns-twenty'));

    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Message: JSON.stringify({ to: { uid: 'sns-twenty' }, data: 1 }),
        MessageAttributes: attributes,
      }),
    );

    const event = (await invoked).event as SNSEvent;
    expect(event.Records[0]?.Sns.MessageAttributes).toEqual(
      Object.fromEntries(
        Object.entries(attributes).map(([name, a]) => [name, { Type: 'String', Value: a.StringValue }]),
      ),
    );
  });

  it('raises InvalidParameterException for an empty message', async () => {
    const error = await sns.send(new PublishCommand({ TopicArn: topicArn, Message: '' })).then(
      () => undefined,
      (e: Error) => e,
    );

    expect(error?.name).toBe('InvalidParameterException');
  });
});

describe('POST /publish from a browser page', () => {
  it('refuses a body that is not declared JSON with 415, so no page can publish with a simple request', async () => {
    const res = await fetch(`${stack.httpUrl}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ to: { all: true }, data: 'from a web page' }),
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({
      error: { code: 'bad_request', message: 'POST /publish takes Content-Type: application/json' },
    });
  });
});

describe('stale records', () => {
  it('keeps the record when $disconnect is lost, and the next publish meets the 410 and deletes it', async () => {
    const socket = await connect(stack, 'stale-u1');
    const id = socket.connectionId;
    stack.emulator.faults.dropDisconnects = true;
    try {
      await socket.close();
    } finally {
      stack.emulator.faults.dropDisconnects = false;
    }
    expect(await recordsOf(stack, id)).toHaveLength(1);
    expect(stack.emulator.stats.droppedDisconnects).toBeGreaterThan(0);

    const { body } = await postJson(stack, '/publish', { to: { uid: 'stale-u1' }, data: 'anyone there?' });

    expect(body).toMatchObject({ connections: 1, delivered: 0, gone: 1, failed: 0 });
    expect(await recordsOf(stack, id)).toEqual([]);
  });
});
