/**
 * Publish ids as idempotency keys, on the local stack with real sockets and real SDK clients: the
 * same id with the same body answers the first result and sends nothing again, on every path
 * (`POST /publish`, Lambda Invoke, SNS, batch items, sharded broadcasts); the same id with another
 * body is refused with `conflict`. SNS carries publishes only. And the uid push's sequential
 * DynamoDB round trips before its first post, counted by a recording proxy.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/shared/limits';
import type { LocalStack } from '../../local/stack';
import { type RoundTripRecorder, startRoundTripRecorder } from '../support/round-trips';
import { type BackingDynamo, startBackingDynamo } from './backing-dynamo';
import {
  closeOpenSockets,
  connect,
  nextInvocation,
  postJson,
  startTestStack,
  type TestSocket,
  WAIT_MS,
} from './helpers';

/** Broadcasts to more connections than this are sharded. */
const THRESHOLD = 2;
const TOPIC_ARN = 'arn:aws:sns:us-east-1:000000000000:push-publish';

let backing: BackingDynamo;
let recorder: RoundTripRecorder;
let stack: LocalStack;
let lambda: LambdaClient;
let sns: SNSClient;

beforeAll(async () => {
  backing = await startBackingDynamo();
  recorder = await startRoundTripRecorder(backing.endpoint);
  stack = await startTestStack({ dynamodbEndpoint: recorder.endpoint, shardThreshold: THRESHOLD });
  lambda = new LambdaClient({ endpoint: stack.httpUrl });
  sns = new SNSClient({ endpoint: stack.httpUrl });
});

afterEach(async () => {
  stack.emulator.faults.management = undefined;
  await closeOpenSockets();
  await stack.shardQueue.whenDrained(WAIT_MS);
});

afterAll(async () => {
  lambda?.destroy();
  sns?.destroy();
  await stack?.stop();
  await recorder?.close();
  await backing?.stop();
});

/** Proves a socket got nothing more: a ping's pong must be the next frame. */
async function expectNothingMore(socket: TestSocket): Promise<void> {
  expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
}

/** The ids of the message frames a socket gets next, `count` of them, then proves nothing else came. */
async function messageIds(socket: TestSocket, count: number): Promise<unknown[]> {
  const ids: unknown[] = [];
  for (let i = 0; i < count; i++) ids.push((await socket.nextJson()).id);
  await expectNothingMore(socket);
  return ids;
}

async function metric(name: string): Promise<number> {
  const res = await fetch(`${stack.httpUrl}/metrics`);
  const body = (await res.json()) as { metrics: Record<string, { sum: number }> };
  return body.metrics[name]?.sum ?? 0;
}

const decode = (payload: Uint8Array | undefined) => JSON.parse(Buffer.from(payload ?? []).toString('utf8'));

const conflict = (id: string) => ({
  error: { code: 'conflict', message: `id ${id} was already used for a different publish` },
});

describe('a repeated id', () => {
  it('answers the same id and body with the first result and delivers once; the seq is not taken again', async () => {
    const sockets = await Promise.all([connect(stack, 'idem-u1'), connect(stack, 'idem-u1')]);
    const body = { to: { uid: 'idem-u1' }, data: { orderId: 42 }, id: 'idem-order-42' };

    const first = await postJson(stack, '/publish', body);
    const again = await postJson(stack, '/publish', body);

    expect(first).toEqual({
      status: 200,
      body: { id: 'idem-order-42', connections: 2, delivered: 2, gone: 0, failed: 0, stored: 0 },
    });
    expect(again).toEqual(first);
    for (const socket of sockets) {
      expect(await socket.nextJson()).toMatchObject({ id: 'idem-order-42', seq: 1, data: { orderId: 42 } });
      await expectNothingMore(socket);
    }
    // The next publish takes seq 2: the repeat took no seq of its own.
    await postJson(stack, '/publish', { to: { uid: 'idem-u1' }, data: 'next', id: 'idem-next' });
    expect(await sockets[0]?.nextJson()).toMatchObject({ id: 'idem-next', seq: 2 });
  });

  it('refuses the same id with another body: 409 conflict on POST /publish, the conflict payload on Invoke, nothing sent', async () => {
    const socket = await connect(stack, 'idem-u2');
    await postJson(stack, '/publish', { to: { uid: 'idem-u2' }, data: 1, id: 'idem-c' });

    const changedData = await postJson(stack, '/publish', { to: { uid: 'idem-u2' }, data: 2, id: 'idem-c' });
    const changedTarget = await postJson(stack, '/publish', {
      to: { uid: 'idem-u3' },
      data: 1,
      id: 'idem-c',
    });
    const invoked = await lambda.send(
      new InvokeCommand({
        FunctionName: 'publish',
        Payload: JSON.stringify({ to: { uid: 'idem-u2' }, data: 3, id: 'idem-c' }),
      }),
    );

    expect(changedData).toEqual({ status: 409, body: conflict('idem-c') });
    expect(changedTarget).toEqual({ status: 409, body: conflict('idem-c') });
    expect(invoked.FunctionError).toBeUndefined();
    expect(decode(invoked.Payload)).toEqual(conflict('idem-c'));
    expect(await messageIds(socket, 1)).toEqual(['idem-c']);
  });

  it('answers a reused sharded broadcast id with its first result and reaches no one twice; another body is refused', async () => {
    const sockets = await Promise.all(['idem-b1', 'idem-b2', 'idem-b3'].map((uid) => connect(stack, uid)));
    const body = { to: { all: true }, data: { sale: 1 }, id: 'idem-sale' };

    const first = await postJson(stack, '/publish', body);
    expect(first.body).toMatchObject({ id: 'idem-sale', queued: true });
    for (const socket of sockets) expect(await socket.nextJson()).toMatchObject({ id: 'idem-sale' });
    await stack.shardQueue.whenDrained(WAIT_MS);

    const again = await postJson(stack, '/publish', body);
    const changed = await postJson(stack, '/publish', { ...body, data: { sale: 2 } });
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(again).toEqual(first);
    expect(changed).toEqual({ status: 409, body: conflict('idem-sale') });
    for (const socket of sockets) await expectNothingMore(socket);
    const status = await fetch(`${stack.httpUrl}/publish/idem-sale`);
    expect(await status.json()).toMatchObject({ status: 'done', delivered: sockets.length });
  });

  it('answers a batch item that reuses an earlier id with that publish’s result, sending only the new items', async () => {
    const socket = await connect(stack, 'idem-u4');
    const earlier = await postJson(stack, '/publish', { to: { uid: 'idem-u4' }, data: 'a', id: 'idem-a' });

    const batch = await postJson(stack, '/publish', {
      batch: [
        { to: { uid: 'idem-u4' }, data: 'a', id: 'idem-a' },
        { to: { uid: 'idem-u4' }, data: 'b', id: 'idem-b' },
      ],
    });

    expect(batch).toEqual({
      status: 200,
      body: {
        results: [
          earlier.body,
          { id: 'idem-b', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        ],
      },
    });
    expect(await messageIds(socket, 2)).toEqual(['idem-a', 'idem-b']);
  });

  it('refuses a whole batch, naming the item, when one item reuses an id with another body; nothing is sent and its new ids stay free', async () => {
    const socket = await connect(stack, 'idem-u5');
    await postJson(stack, '/publish', { to: { uid: 'idem-u5' }, data: 'x', id: 'idem-x' });
    await socket.nextJson();

    const refused = await postJson(stack, '/publish', {
      batch: [
        { to: { uid: 'idem-u5' }, data: 'y', id: 'idem-y' },
        { to: { uid: 'idem-u5' }, data: 'changed', id: 'idem-x' },
      ],
    });
    expect(refused).toEqual({
      status: 409,
      body: {
        error: { code: 'conflict', message: 'batch[1]: id idem-x was already used for a different publish' },
      },
    });
    await expectNothingMore(socket);
    // idem-y was claimed and given back: it can carry any body now.
    const later = await postJson(stack, '/publish', { to: { uid: 'idem-u5' }, data: 'other', id: 'idem-y' });
    expect(later.body).toMatchObject({ id: 'idem-y', delivered: 1 });
  });
});

describe('SNS', () => {
  it('publishes a repeated message once; another body under a used id is counted, logged and not retried', async () => {
    const socket = await connect(stack, 'idem-sns');
    const rejectedBefore = await metric('RejectedSnsMessages');
    const repeatedBefore = await metric('RepeatedPublishes');
    const send = async (data: unknown) => {
      const invoked = nextInvocation(stack, 'publish', (r) => JSON.stringify(r.event).includes('idem-sns-1'));
      await sns.send(
        new PublishCommand({
          TopicArn: TOPIC_ARN,
          Message: JSON.stringify({ to: { uid: 'idem-sns' }, data, id: 'idem-sns-1' }),
        }),
      );
      return invoked;
    };

    const first = await send({ n: 1 });
    const repeat = await send({ n: 1 });
    const changed = await send({ n: 2 });

    const result = { id: 'idem-sns-1', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 };
    expect(first.result).toEqual({ results: [result], rejected: 0 });
    expect(repeat.result).toEqual({ results: [result], rejected: 0 });
    expect(changed).toMatchObject({ result: { results: [], rejected: 1 } });
    expect(changed.error).toBeUndefined();
    expect(await metric('RejectedSnsMessages')).toBe(rejectedBefore + 1);
    expect(await metric('RepeatedPublishes')).toBe(repeatedBefore + 1);
    expect(await messageIds(socket, 1)).toEqual(['idem-sns-1']);
  });

  it('counts an SNS message with data nested 10,000 deep as rejected, without failing the invocation', async () => {
    const before = await metric('RejectedSnsMessages');
    const invoked = nextInvocation(stack, 'publish', (r) => JSON.stringify(r.event).includes('idem-deep'));
    const deep = `${'['.repeat(10_000)}1${']'.repeat(10_000)}`;

    await sns.send(
      new PublishCommand({
        TopicArn: TOPIC_ARN,
        Message: `{"to":{"uid":"idem-deep"},"id":"idem-deep","data":${deep}}`,
      }),
    );

    const record = await invoked;
    expect(record.error).toBeUndefined();
    expect(record.result).toEqual({ results: [], rejected: 1 });
    expect(await metric('RejectedSnsMessages')).toBe(before + 1);
    expect(LIMITS.maxDataDepth).toBeLessThan(10_000);
  });

  it.each([
    ['kick', { kick: { uid: 'idem-victim' } }],
    ['presence', { presence: { uid: 'idem-victim' } }],
    ['status', { status: 'idem-sale' }],
  ])(
    'refuses a %s over SNS as forbidden: counted, not retried, and the victim keeps its socket',
    async (kind, message) => {
      const victim = await connect(stack, 'idem-victim');
      const before = await metric('RejectedSnsMessages');
      const invoked = nextInvocation(stack, 'publish', (r) =>
        JSON.stringify(r.event).includes(`{\\"${kind}\\"`),
      );

      await sns.send(new PublishCommand({ TopicArn: TOPIC_ARN, Message: JSON.stringify(message) }));

      const record = await invoked;
      expect(record.error).toBeUndefined();
      expect(record.result).toEqual({ results: [], rejected: 1 });
      expect(await metric('RejectedSnsMessages')).toBe(before + 1);
      await expectNothingMore(victim);
      // The same command by direct invoke is allowed.
      const direct = await lambda.send(
        new InvokeCommand({
          FunctionName: 'publish',
          Payload: JSON.stringify({ presence: { uid: 'idem-victim' } }),
        }),
      );
      expect(decode(direct.Payload)).toMatchObject({ uid: 'idem-victim', online: true });
    },
  );
});

describe('round trips', () => {
  it('makes two sequential DynamoDB rounds before the first post of a uid push, storing the message beside the post', async () => {
    const socket = await connect(stack, 'idem-rt');
    stack.emulator.faults.management = {
      goneRate: Number.MIN_VALUE,
      random: () => {
        recorder.markPost();
        return 0.5;
      },
    };
    // Answers from a third round are held until the first post: if the post waited for one, it
    // would never come and the frame below would time out.
    recorder.reset({ holdFromLevel: 3 });

    const published = await postJson(stack, '/publish', { to: { uid: 'idem-rt' }, data: 1, id: 'idem-rt-1' });
    expect(await socket.nextJson()).toMatchObject({ id: 'idem-rt-1', seq: 1 });

    expect(published.body).toMatchObject({ delivered: 1 });
    expect(recorder.depthBeforeFirstPost()).toBe(2);
    const tables = stack.tableNames;
    const levels = recorder.calls.map((c) => [c.level, c.operation, c.table]);
    expect(levels).toEqual(
      expect.arrayContaining([
        [1, 'PutItem', tables.Publishes],
        [1, 'Query', tables.Connections],
        [2, 'UpdateItem', tables.Messages],
        [3, 'PutItem', tables.Messages],
      ]),
    );
    expect(levels.filter(([level]) => level === 1)).toHaveLength(2);
    expect(levels.filter(([level]) => level === 2)).toHaveLength(1);
  });
});
