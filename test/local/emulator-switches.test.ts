/**
 * The emulator's switches for honest measurement and fault tests, through the real
 * `@aws-sdk/client-apigatewaymanagementapi`: random 429/500/410 answers and delays on posts, the
 * `@connections` rate limit with its burst, added latency, and virtual connections.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../lambdas/core/shard';
import { virtualConnections } from '../support/virtual';
import {
  connect,
  disconnectOf,
  eventOf,
  postJson,
  recordsOf,
  type TestSocket,
  useTestStack,
} from './helpers';

const stack = useTestStack();
/** One attempt per call: the SDK would otherwise retry 429 and 500 out of sight. */
let client: ApiGatewayManagementApiClient;

beforeAll(() => {
  client = new ApiGatewayManagementApiClient({ endpoint: stack.managementEndpoint, maxAttempts: 1 });
});

afterEach(() => {
  stack.emulator.faults.management = undefined;
  stack.emulator.faults.managementRateLimit = undefined;
  stack.emulator.faults.managementBurst = undefined;
  stack.emulator.managementLatencyMs = 0;
});

afterAll(() => {
  client?.destroy();
});

type SdkError = Error & { $metadata: { httpStatusCode?: number }; $fault: string };

function post(connectionId: string, data: string): Promise<unknown> {
  return client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
}

/** What a post answered: 200, or the SDK error's name and status. */
async function outcome(connectionId: string, data: string): Promise<string> {
  try {
    await post(connectionId, data);
    return '200';
  } catch (error) {
    const e = error as SdkError;
    return `${e.$metadata.httpStatusCode} ${e.name}`;
  }
}

/** Proves nothing else arrived: a marker posted with the switches off is the very next frame. */
async function expectNothingBefore(socket: TestSocket, marker: string): Promise<void> {
  stack.emulator.faults.management = undefined;
  await post(socket.connectionId, marker);
  expect((await socket.next()).text).toBe(marker);
}

describe('faults.management', () => {
  it('answers 429, 500 and 410 by the injected draws, and the SDK names each error', async () => {
    const socket = await connect(stack, 'fault-mix');
    const draws = [0.05, 0.2, 0.4, 0.9];
    stack.emulator.faults.management = {
      throttleRate: 0.125,
      errorRate: 0.25,
      goneRate: 0.25,
      random: () => draws.shift() ?? 1,
    };
    const before = stack.emulator.stats.management;

    const answers: string[] = [];
    for (const data of ['a', 'b', 'c', 'd']) answers.push(await outcome(socket.connectionId, data));

    expect(answers).toEqual([
      '429 LimitExceededException',
      '500 InternalServerErrorException',
      '410 GoneException',
      '200',
    ]);
    expect((await socket.next()).text).toBe('d');
    const after = stack.emulator.stats.management;
    expect(after.injectedThrottles - before.injectedThrottles).toBe(1);
    expect(after.injectedErrors - before.injectedErrors).toBe(1);
    expect(after.injectedGone - before.injectedGone).toBe(1);
    await expectNothingBefore(socket, 'marker');
    await socket.close();
  });

  it('marks the injected 500 as a server fault and the 429 as a client one, as AWS errors are', async () => {
    const socket = await connect(stack, 'fault-kinds');
    stack.emulator.faults.management = { errorRate: 1 };
    const server = (await post(socket.connectionId, 'x').catch((e: unknown) => e)) as SdkError;
    stack.emulator.faults.management = { throttleRate: 1 };
    const client429 = (await post(socket.connectionId, 'x').catch((e: unknown) => e)) as SdkError;

    expect([server.$fault, client429.$fault]).toEqual(['server', 'client']);
    await expectNothingBefore(socket, 'marker');
    await socket.close();
  });

  it('answers 410 without closing the socket or touching its records', async () => {
    const socket = await connect(stack, 'fault-gone');
    const records = await recordsOf(stack, socket.connectionId);
    stack.emulator.faults.management = { goneRate: 1 };

    expect(await outcome(socket.connectionId, 'lost')).toBe('410 GoneException');

    const info = await client.send(new GetConnectionCommand({ ConnectionId: socket.connectionId }));
    expect(info.$metadata.httpStatusCode).toBe(200);
    expect(await recordsOf(stack, socket.connectionId)).toEqual(records);
    expect(stack.emulator.connectionIds()).toContain(socket.connectionId);
    await expectNothingBefore(socket, 'still here');
    await socket.close();
  });

  it('delays a post by delayMs and then delivers it', async () => {
    const socket = await connect(stack, 'fault-delay');
    stack.emulator.faults.management = { delayMs: 120 };
    const before = stack.emulator.stats.management.injectedDelays;

    const started = performance.now();
    await post(socket.connectionId, 'late');
    const took = performance.now() - started;

    expect(took).toBeGreaterThanOrEqual(115);
    expect((await socket.next()).text).toBe('late');
    expect(stack.emulator.stats.management.injectedDelays - before).toBe(1);
    await socket.close();
  });

  it('leaves GetConnection alone: only posts fail', async () => {
    const socket = await connect(stack, 'fault-get');
    stack.emulator.faults.management = { errorRate: 1 };

    const info = await client.send(new GetConnectionCommand({ ConnectionId: socket.connectionId }));

    expect(info.$metadata.httpStatusCode).toBe(200);
    await socket.close();
  });
});

describe('faults.managementRateLimit', () => {
  it('lets managementBurst requests through at once, then answers 429 LimitExceededException', async () => {
    const socket = await connect(stack, 'burst');
    stack.emulator.faults.managementRateLimit = 0.01; // one token per 100 s: none refills while the burst is answered
    stack.emulator.faults.managementBurst = 3;
    const before = stack.emulator.stats.management.rateLimited;

    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => outcome(socket.connectionId, `m${i}`)),
    );

    expect(answers.filter((a) => a === '200')).toHaveLength(3);
    expect(answers.filter((a) => a === '429 LimitExceededException')).toHaveLength(2);
    expect(stack.emulator.stats.management.rateLimited - before).toBe(2);
    for (let i = 0; i < 3; i++) await socket.next();
    expect(socket.pending).toBe(0);
    await socket.close();
  });
});

describe('managementLatencyMs', () => {
  it('adds the latency to every @connections call', async () => {
    const socket = await connect(stack, 'latency');
    stack.emulator.managementLatencyMs = 80;

    const postStarted = performance.now();
    await post(socket.connectionId, 'slow');
    const postTook = performance.now() - postStarted;
    const getStarted = performance.now();
    await client.send(new GetConnectionCommand({ ConnectionId: socket.connectionId }));
    const getTook = performance.now() - getStarted;

    expect(postTook).toBeGreaterThanOrEqual(75);
    expect(getTook).toBeGreaterThanOrEqual(75);
    expect((await socket.next()).text).toBe('slow');
    await socket.close();
  });

  it('refuses a negative latency', () => {
    expect(() => {
      stack.emulator.managementLatencyMs = -1;
    }).toThrow(new RangeError('managementLatencyMs must be a non-negative number, got -1'));
  });
});

describe('virtual connections', () => {
  /** A record with what differs between any two connections (ids, times, shard) blanked out. */
  function shape(item: Record<string, unknown>): Record<string, unknown> {
    const volatile = [
      'pk',
      'connectionId',
      'connectedAt',
      'lastSeenAt',
      'expiresAt',
      'shard',
      'topicShard',
      'tokenExp',
    ];
    const { userAgent: _userAgent, ...rest } = item;
    return Object.fromEntries(
      Object.entries(rest).map(([key, value]) => [key, volatile.includes(key) ? typeof value : value]),
    );
  }

  it('gets the records $connect and subscribe write for a real connection of the same uid and topics', async () => {
    const socket = await connect(stack, 'twin', { topics: ['orders'] });
    expect(await socket.request({ action: 'subscribe', topic: 'orders' })).toEqual({
      type: 'subscribed',
      topic: 'orders',
    });
    const [id] = await virtualConnections(stack).add(1, { uid: 'twin', topics: ['orders'] });

    const real = await recordsOf(stack, socket.connectionId);
    const virtual = await recordsOf(stack, id as string);

    expect(virtual.map(shape)).toEqual(real.map(shape));
    expect(virtual.map((item) => item.shard ?? item.topicShard)).toEqual([
      shardOf(id as string),
      shardOf(id as string),
    ]);
    expect(virtual[0]).toMatchObject({ userAgent: 'push-local-virtual-connection', sourceIp: '127.0.0.1' });
    await socket.close();
  });

  it('counts posts, answers GetConnection, and on DeleteConnection runs $disconnect, which deletes the records', async () => {
    const [id = ''] = await virtualConnections(stack).add(1, { uid: 'ghost' });
    const before = virtualConnections(stack).totalDeliveries;

    await post(id, 'one');
    await post(id, 'two');
    const counted = virtualConnections(stack).deliveriesTo(id);
    const info = await client.send(new GetConnectionCommand({ ConnectionId: id }));
    const disconnected = disconnectOf(stack, id);
    const deleted = await client.send(new DeleteConnectionCommand({ ConnectionId: id }));
    const { requestContext } = eventOf(await disconnected);

    expect(counted).toBe(2);
    expect(virtualConnections(stack).totalDeliveries - before).toBe(2);
    expect(info.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'push-local-virtual-connection' });
    expect(info.LastActiveAt?.getTime()).toBeGreaterThanOrEqual(info.ConnectedAt?.getTime() ?? Infinity);
    expect(deleted.$metadata.httpStatusCode).toBe(204);
    expect(requestContext).toMatchObject({
      disconnectStatusCode: 1000,
      disconnectReason: 'Connection Closed Normally',
      authorizer: { uid: 'ghost', principalId: 'ghost', grants: '[]' },
    });
    expect(await recordsOf(stack, id)).toEqual([]);
    expect(await outcome(id, 'after')).toBe('410 GoneException');
  });

  it('keeps per-id counts and the last payload until they are reset', async () => {
    const [a = '', b = ''] = await virtualConnections(stack).add(2, { uid: 'counted' });

    await post(a, 'first');
    await post(a, 'second');

    expect([virtualConnections(stack).deliveriesTo(a), virtualConnections(stack).deliveriesTo(b)]).toEqual([
      2, 0,
    ]);
    expect(virtualConnections(stack).lastPayload(a)).toBe('second');
    virtualConnections(stack).resetCounts();
    expect([virtualConnections(stack).deliveriesTo(a), virtualConnections(stack).deliveryTimes()]).toEqual([
      0,
      [],
    ]);
  });

  it('spreads connections evenly over the first shardSpread shards', async () => {
    const ids = await virtualConnections(stack).add(10, { shardSpread: 3 });

    const perShard = [0, 1, 2].map((shard) => ids.filter((id) => shardOf(id) === shard).length);

    expect(perShard).toEqual([4, 3, 3]);
  });

  it('is found by a publish to its uid, which the handler delivers like any other', async () => {
    const [id = ''] = await virtualConnections(stack).add(1, { uid: 'reachable' });

    const answer = await postJson(stack, '/publish', {
      to: { uid: 'reachable' },
      data: { hi: 1 },
      id: 'uid-1',
    });

    expect(answer.body).toMatchObject({ id: 'uid-1', connections: 1, delivered: 1 });
    expect(JSON.parse(virtualConnections(stack).lastPayload(id) ?? '')).toMatchObject({
      type: 'message',
      id: 'uid-1',
      seq: 1,
      data: { hi: 1 },
    });
  });

  it('refuses a shardSpread outside 1..16 and a topic the handlers would refuse', async () => {
    await expect(virtualConnections(stack).add(1, { shardSpread: 17 })).rejects.toThrow(
      new RangeError('shardSpread must be an integer from 1 to 16, got 17'),
    );
    await expect(virtualConnections(stack).add(1, { topics: ['no spaces'] })).rejects.toThrow(
      new RangeError('invalid topic "no spaces"'),
    );
  });
});
