import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../lambdas/shared/errors';
import { LIMITS } from '../../lambdas/shared/limits';
import type { LocalStack } from '../../local/stack';
import { lazySender } from '../../server/src/aws';
import {
  createPublisher,
  httpPublisher,
  lambdaPublisher,
  MAX_BATCH,
  type Publisher,
  PushApiError,
  snsPublisher,
} from '../../server/src/index';
import { closeOpenSockets, connect, handshakeRefusal, startTestStack, tokenFor } from '../local/helpers';
import { startLostAnswerProxy } from '../support/lost-answer-proxy';
import { refusal } from '../support/push-api-refusal';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await closeOpenSockets();
  await stack?.stop();
});

/** Each publisher, with the prefix of the publish ids it uses: ids are idempotency keys on one stack. */
const publishers: [string, string, () => Publisher][] = [
  [
    'Lambda Invoke',
    'invoke',
    () => lambdaPublisher({ functionName: 'publish', clientConfig: { endpoint: stack.httpUrl } }),
  ],
  ['the local HTTP endpoint', 'http', () => httpPublisher({ url: stack.httpUrl })],
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('publish ids', () => {
  const recording = () => {
    const sent: Record<string, unknown>[] = [];
    const publisher = createPublisher(async (body) => {
      sent.push(body as Record<string, unknown>);
      return {};
    });
    return { sent, publisher };
  };

  it('gives every publish without an id a random one, and keeps one the caller gave', async () => {
    const { sent, publisher } = recording();
    await publisher.publish({ to: { uid: 'u' }, data: 1 });
    await publisher.publish({ to: { uid: 'u' }, data: 1 });
    await publisher.publish({ to: { uid: 'u' }, data: 1, id: 'mine' });
    expect(sent.map((body) => body.id)).toEqual([
      expect.stringMatching(UUID),
      expect.stringMatching(UUID),
      'mine',
    ]);
    expect(sent[0]?.id).not.toBe(sent[1]?.id);
    expect(sent[0]).toEqual({ to: { uid: 'u' }, data: 1, id: sent[0]?.id });
  });

  it('gives each batch item without an id its own', async () => {
    const { sent, publisher } = recording();
    await publisher.batch([
      { to: { uid: 'a' }, data: 1 },
      { to: { uid: 'b' }, data: 2, id: 'kept' },
      { to: { uid: 'c' }, data: 3 },
    ]);
    const items = (sent[0]?.batch ?? []) as { id?: string }[];
    expect(items.map((item) => item.id)).toEqual([
      expect.stringMatching(UUID),
      'kept',
      expect.stringMatching(UUID),
    ]);
    expect(items[0]?.id).not.toBe(items[2]?.id);
  });

  it("delivers once when Invoke's answer is lost and the AWS SDK sends the publish again", async () => {
    // A proxy that lets the first Invoke reach the function, then drops the connection instead of
    // its answer: the publish ran, and the SDK retries the call as a new request.
    const proxy = await startLostAnswerProxy(stack.httpUrl);
    try {
      const socket = await connect(stack, 'pub-lost-answer');
      const push = lambdaPublisher({
        functionName: 'publish',
        clientConfig: { endpoint: proxy.url },
      });
      const result = await push.publish({ to: { uid: 'pub-lost-answer' }, data: 'once' });
      expect(proxy.requests()).toBe(2);
      expect(result).toMatchObject({ id: expect.stringMatching(UUID), delivered: 1 });
      // The retry answered the first attempt's result and sent nothing: the next frame is the marker.
      await push.publish({ to: { uid: 'pub-lost-answer' }, data: 'marker', id: 'pub-lost-marker' });
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: result.id, data: 'once' });
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'pub-lost-marker' });
      await socket.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('a kick with revoke whose answer is lost', () => {
  it('sends the same before on each attempt the AWS SDK makes, so the retry is the same kick', async () => {
    const proxy = await startLostAnswerProxy(stack.httpUrl);
    try {
      const uid = 'pub-revoke-lost-answer';
      const socket = await connect(stack, uid);
      const push = lambdaPublisher({ functionName: 'publish', clientConfig: { endpoint: proxy.url } });
      const from = Math.floor(Date.now() / 1000);
      // The first attempt closed the socket; its answer was lost, and the retry found it gone.
      expect(await push.kick(uid, { reason: 'stolen', revoke: true })).toEqual({ closed: 0, revoked: true });
      const [first, retry, ...more] = proxy.bodies().map((body) => JSON.parse(body));
      expect(more).toEqual([]);
      expect(first).toEqual({ kick: { uid, reason: 'stolen', revoke: true, before: expect.any(Number) } });
      expect(first.kick.before).toBeGreaterThanOrEqual(from);
      expect(retry).toEqual(first);
      expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'stolen' });
      await socket.waitForClose();
    } finally {
      await proxy.close();
    }
  });
});

describe('kick bodies', () => {
  /** Stands for the current second in an expected body. */
  const NOW = 'the current second';

  it.each([
    [undefined, { uid: 'u' }],
    ['bye', { uid: 'u', reason: 'bye' }],
    [{ revoke: true }, { uid: 'u', revoke: true, before: NOW }],
    [
      { reason: 'stolen', revoke: true },
      { uid: 'u', reason: 'stolen', revoke: true, before: NOW },
    ],
    [
      { revoke: true, before: 1_700_000_000 },
      { uid: 'u', revoke: true, before: 1_700_000_000 },
    ],
    [
      { reason: 'bye', revoke: false },
      { uid: 'u', reason: 'bye', revoke: false },
    ],
    // Sent as given, for the function to refuse: a line without a revocation to draw it.
    [{ before: 1_700_000_000 }, { uid: 'u', before: 1_700_000_000 }],
    [{}, { uid: 'u' }],
  ] as const)('kick(u, %j) sends %j', async (how, kick) => {
    const sent: { kick: Record<string, unknown> }[] = [];
    const publisher = createPublisher(async (body) => {
      sent.push(body as (typeof sent)[number]);
      return { closed: 0 };
    });
    const from = Math.floor(Date.now() / 1000);
    await publisher.kick('u', how);
    const to = Math.floor(Date.now() / 1000);
    const line = sent[0]?.kick.before;
    if ('before' in kick && kick.before === NOW) {
      expect(line).toBeGreaterThanOrEqual(from);
      expect(line).toBeLessThanOrEqual(to);
      expect(sent).toEqual([{ kick: { ...kick, before: line } }]);
    } else expect(sent).toEqual([{ kick }]);
  });
});

describe.each(publishers)('a publisher over %s', (_name, ids, make) => {
  it('publishes and resolves to the delivery result', async () => {
    const socket = await connect(stack, 'pub-u1');
    const id = `${ids}-p-1`;
    const result = await make().publish({ to: { uid: 'pub-u1' }, data: { orderId: 1 }, id });
    expect(result).toEqual({ id, connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id, data: { orderId: 1 } });
    await socket.close();
  });

  it('throws a PushApiError with code conflict for an id already used for another body', async () => {
    const id = `${ids}-used`;
    await make().publish({ to: { uid: 'pub-nobody-1' }, data: 1, id });
    const error = await refusal(make().publish({ to: { uid: 'pub-nobody-1' }, data: 2, id }));
    expect(error).toMatchObject({
      code: 'conflict',
      message: `id ${id} was already used for a different publish`,
    });
    expect(error.retryable).toBe(false);
  });

  it('batches, answering each publish in order', async () => {
    const result = await make().batch([
      { to: { uid: 'pub-nobody-1' }, data: 1, id: `${ids}-b-1` },
      { to: { uids: ['pub-nobody-2'] }, data: 2, id: `${ids}-b-2` },
    ]);
    expect(result).toEqual({
      results: [
        { id: `${ids}-b-1`, connections: 0, delivered: 0, gone: 0, failed: 0, stored: 1 },
        { id: `${ids}-b-2`, connections: 0, delivered: 0, gone: 0, failed: 0, stored: 1 },
      ],
    });
  });

  it('answers presence by uid, uids and topic', async () => {
    const socket = await connect(stack, 'pub-here', { topics: ['pub-news'] });
    await socket.request({ action: 'subscribe', topic: 'pub-news' });
    const publisher = make();
    const one = await publisher.presence({ uid: 'pub-here' });
    expect(one.online).toBe(true);
    expect(one.connections.map((c) => c.connectionId)).toEqual([socket.connectionId]);
    expect(await publisher.presence({ uids: ['pub-here', 'pub-gone'] })).toEqual({
      online: ['pub-here'],
      offline: ['pub-gone'],
    });
    expect(await publisher.presence({ topic: 'pub-news' })).toEqual({
      topic: 'pub-news',
      connections: 1,
      uids: 1,
    });
    await socket.close();
  });

  it('kicks: the connection is told why and closed', async () => {
    const socket = await connect(stack, 'pub-kick');
    expect(await make().kick('pub-kick', 'logged out')).toEqual({ closed: 1 });
    expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'logged out' });
    await socket.waitForClose();
  });

  it('throws bad_request for a revoke that is not a boolean, instead of kicking without it', async () => {
    const untyped = { reason: 'oops', revoke: 'true' } as unknown as { revoke: boolean };
    const error = await refusal(make().kick(`pub-revoke-typo-${ids}`, untyped));
    expect(error).toMatchObject({ code: 'bad_request', message: 'kick.revoke must be a boolean' });
  });

  it('kicks with revoke: the connection is closed and its token refused at the handshake', async () => {
    const uid = `pub-revoke-${ids}`;
    const token = await tokenFor(stack, uid);
    const socket = await connect(stack, uid);
    expect(await make().kick(uid, { reason: 'stolen', revoke: true })).toEqual({ closed: 1, revoked: true });
    expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'stolen' });
    await socket.waitForClose();
    expect(await handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(token)}`)).toMatchObject({
      status: 401,
    });
  });

  it('throws bad_request for a before without revoke', async () => {
    const error = await refusal(
      make().kick(`pub-before-alone-${ids}`, { before: Math.floor(Date.now() / 1000) }),
    );
    expect(error).toMatchObject({
      code: 'bad_request',
      message: 'kick.before is allowed only with "revoke":true',
    });
  });

  it('throws bad_request for a body the function refuses, with its message', async () => {
    const error = await refusal(make().publish({ to: { uid: '' }, data: 1 }));
    expect(error).toMatchObject({ name: 'PushApiError', code: 'bad_request', retryable: false });
    expect(error.message).toMatch(/^to\.uid /);
  });

  it('throws payload_too_large, not retryable, for a batch over the 6 MB invoke payload limit', async () => {
    // 50 items of 127 KB: each within the data limit, together past Lambda's synchronous payload.
    const data = 'x'.repeat(127 * 1024 - 2);
    const bodies = Array.from({ length: 50 }, (_, i) => ({ to: { uid: 'u' }, data, id: `${ids}-big-${i}` }));
    const error = await refusal(make().batch(bodies));
    expect(error).toMatchObject({ code: 'payload_too_large', retryable: false });
  });

  it('throws bad_request, not retryable, for data JSON cannot carry, before sending anything', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const data of [10n, cyclic]) {
      const error = await refusal(make().publish({ to: { uid: 'u' }, data }));
      expect(error).toMatchObject({ code: 'bad_request', retryable: false });
      expect(error.message).toMatch(/^the body cannot be sent as JSON: /);
    }
  });

  it('throws not_found for the status of an unknown sharded publish', async () => {
    const error = await refusal(make().status('no-such-publish'));
    expect(error).toMatchObject({ code: 'not_found', message: 'no sharded publish with id no-such-publish' });
  });

  it('throws unavailable, retryable, when the function itself fails', async () => {
    const restore = stack.emulator.setHandler('publish', async () => {
      throw new UnavailableError('DynamoDB is down');
    });
    try {
      const error = await refusal(make().publish({ to: { uid: 'u' }, data: 1 }));
      expect(error).toMatchObject({ code: 'unavailable', retryable: true });
    } finally {
      restore();
    }
  });
});

describe('a Lambda publisher', () => {
  it('uses the LambdaClient it is given', async () => {
    const lambda = new LambdaClient({ endpoint: stack.httpUrl });
    const push = lambdaPublisher({ functionName: 'publish', client: lambda });
    expect(await push.presence({ uids: ['nobody-here'] })).toEqual({ online: [], offline: ['nobody-here'] });
    lambda.destroy();
  });

  it('names the function error it got from Invoke, and keeps it as the cause', async () => {
    const restore = stack.emulator.setHandler('publish', async () => {
      throw new UnavailableError('DynamoDB is down');
    });
    try {
      const push = lambdaPublisher({ functionName: 'publish', clientConfig: { endpoint: stack.httpUrl } });
      const error = await refusal(push.publish({ to: { uid: 'u' }, data: 1 }));
      expect(error.message).toBe('the publish function failed: UnavailableError: DynamoDB is down');
      expect(error.cause).toMatchObject({ name: 'UnavailableError', message: 'DynamoDB is down' });
    } finally {
      restore();
    }
  });

  it('throws internal for a function that does not exist, with the SDK error as the cause', async () => {
    const push = lambdaPublisher({
      functionName: 'no-such-function',
      clientConfig: { endpoint: stack.httpUrl },
    });
    const error = await refusal(push.publish({ to: { uid: 'u' }, data: 1 }));
    expect(error).toMatchObject({ code: 'internal', retryable: false });
    expect(error.cause).toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('throws internal naming the fix when no region is set, as a first run without AWS setup has it', async () => {
    const names = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE'] as const;
    const saved = names.map((name) => [name, process.env[name]] as const);
    for (const name of names) delete process.env[name];
    process.env.AWS_CONFIG_FILE = join(tmpdir(), 'apigw-push-no-aws-config');
    try {
      const push = lambdaPublisher({ functionName: 'publish', clientConfig: { endpoint: stack.httpUrl } });
      const error = await refusal(push.publish({ to: { uid: 'u' }, data: 1 }));
      // The SDK refused before sending: a retry meets the same, so not unavailable.
      expect(error).toMatchObject({ code: 'internal', retryable: false });
      expect(error.message).toBe(
        'Lambda Invoke failed: no AWS region: set AWS_REGION, or pass clientConfig.region (or a client of your own)',
      );
      expect(error.cause).toMatchObject({ message: 'Region is missing' });
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe('an HTTP publisher', () => {
  it('throws unavailable when nothing answers', async () => {
    const closed = await startTestStack();
    const url = closed.httpUrl;
    await closed.stop();
    const error = await refusal(httpPublisher({ url }).publish({ to: { uid: 'u' }, data: 1 }));
    expect(error).toMatchObject({ code: 'unavailable' });
    expect(error.message).toMatch(new RegExp(`^no answer from ${url}/publish`));
  });
});

describe('an SNS publisher', () => {
  it('resolves to the message id, and the message is delivered', async () => {
    const socket = await connect(stack, 'sns-u1');
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      clientConfig: { endpoint: stack.httpUrl },
    });
    const receipt = await topic.publish({ to: { uid: 'sns-u1' }, data: 'via sns', id: 'sns-1' });
    expect(receipt.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(receipt.ids).toEqual(['sns-1']);
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'sns-1', data: 'via sns' });
    await socket.close();
  });

  it('sends a batch as one message', async () => {
    const socket = await connect(stack, 'sns-u2');
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      clientConfig: { endpoint: stack.httpUrl },
    });
    const receipt = await topic.batch([
      { to: { uid: 'sns-u2' }, data: 1, id: 'sns-b-1' },
      { to: { uid: 'sns-u2' }, data: 2 },
    ]);
    const ids = [(await socket.nextJson()).id, (await socket.nextJson()).id];
    expect(ids).toEqual(['sns-b-1', receipt.ids[1]]);
    expect(receipt.ids[1]).toMatch(UUID);
    await socket.close();
  });

  it('gives a publish without an id one of its own, and says which', async () => {
    const socket = await connect(stack, 'sns-u3');
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      clientConfig: { endpoint: stack.httpUrl },
    });
    const receipt = await topic.publish({ to: { uid: 'sns-u3' }, data: 'no id' });
    expect(receipt.ids).toEqual([expect.stringMatching(UUID)]);
    expect(receipt.ids[0]).not.toBe(receipt.messageId);
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: receipt.ids[0], data: 'no id' });
    await socket.close();
  });

  it("throws payload_too_large, not retryable, for a message over SNS's 256 KB", async () => {
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      clientConfig: { endpoint: stack.httpUrl },
    });
    const data = 'x'.repeat(100 * 1024);
    const bodies = [1, 2, 3].map((i) => ({ to: { uid: 'u' }, data, id: `sns-big-${i}` }));
    const error = await refusal(topic.batch(bodies));
    expect(error).toMatchObject({ code: 'payload_too_large', retryable: false });
  });

  it("holds MAX_BATCH to the publish function's own limit", () => {
    expect(MAX_BATCH).toBe(LIMITS.maxBatch);
  });

  it('rejects (never throws at the call) a body that is not an object, sending nothing SNS would drop', async () => {
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      // Nothing listens here: a message sent would fail as unavailable instead.
      clientConfig: { endpoint: 'http://127.0.0.1:9', maxAttempts: 1 },
    });
    const untyped = topic as unknown as {
      publish(b: unknown): Promise<unknown>;
      batch(b: unknown): Promise<unknown>;
    };
    const calls: [Promise<unknown>, string][] = [
      [untyped.publish(null), 'the publish must be a publish body object, got null'],
      [untyped.publish('hi'), 'the publish must be a publish body object, got a string'],
      [untyped.batch({ to: { uid: 'u' }, data: 1 }), 'batch takes an array of publish bodies, got an object'],
      [
        untyped.batch([{ to: { uid: 'u' }, data: 1 }, [1]]),
        'batch[1] must be a publish body object, got an array',
      ],
      [untyped.batch([]), 'batch must hold 1 to 100 publishes, got 0'],
      [
        untyped.batch(Array.from({ length: 101 }, (_, i) => ({ to: { uid: 'u' }, data: i }))),
        'batch must hold 1 to 100 publishes, got 101',
      ],
    ];
    for (const [call, message] of calls) {
      const error = await refusal(call);
      expect(error).toMatchObject({ code: 'bad_request', retryable: false, message });
    }
  });

  it('throws bad_request for data JSON cannot carry', async () => {
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      clientConfig: { endpoint: stack.httpUrl },
    });
    const error = await refusal(topic.publish({ to: { uid: 'u' }, data: 10n }));
    expect(error).toMatchObject({ code: 'bad_request', retryable: false });
  });

  it('writes U+FFFE and U+FFFF as escapes, which SQS takes, and the data arrives unchanged', async () => {
    const data = 'a\uFFFEb\uFFFFc';
    let sent = '';
    const recording = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      client: {
        send: async (command: unknown) => {
          sent = (command as { input: { Message: string } }).input.Message;
          return { MessageId: 'recorded' };
        },
      },
    });
    await recording.publish({ to: { uid: 'sns-u4' }, data, id: 'sns-nonchar-0' });
    expect(sent).toContain('"data":"a\\ufffeb\\uffffc"');
    expect(sent).not.toMatch(/[\uFFFE\uFFFF]/);
    const socket = await connect(stack, 'sns-u4');
    const topic = snsPublisher({
      topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish',
      clientConfig: { endpoint: stack.httpUrl },
    });
    await topic.publish({ to: { uid: 'sns-u4' }, data, id: 'sns-nonchar-1' });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'sns-nonchar-1', data });
    await socket.close();
  });

  it('throws internal for a topic ARN SNS refuses', async () => {
    const topic = snsPublisher({ topicArn: 'not-an-arn', clientConfig: { endpoint: stack.httpUrl } });
    const error = await refusal(topic.publish({ to: { uid: 'u' }, data: 1 }));
    expect(error.code).toBe('internal');
  });
});

describe('a publisher whose AWS SDK peer is not installed', () => {
  it('throws a PushApiError (internal, not retryable) naming the package to install, and tries again next time', async () => {
    let attempts = 0;
    const { send } = lazySender(
      { pkg: '@aws-sdk/client-lambda', clientClass: 'LambdaClient', serviceId: 'Lambda' },
      async () => {
        attempts++;
        throw Object.assign(new Error("Cannot find package '@aws-sdk/client-lambda'"), {
          code: 'ERR_MODULE_NOT_FOUND',
        });
      },
      () => ({ send: async () => ({}) }),
      {},
    );
    for (let i = 0; i < 2; i++) {
      const failure = await send({}).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(PushApiError);
      expect(failure).toMatchObject({
        code: 'internal',
        retryable: false,
        message: '@aws-sdk/client-lambda is not installed: npm install @aws-sdk/client-lambda',
        cause: { code: 'ERR_MODULE_NOT_FOUND' },
      });
    }
    expect(attempts).toBe(2);
  });
});
