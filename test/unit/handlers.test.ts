import { Logger } from '@aws-lambda-powertools/logger';
import {
  DeleteConnectionCommand,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { SignJWT } from 'jose';
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.PUSH_CONNECTIONS_TABLE = 'unit-connections';
  process.env.PUSH_MANAGEMENT_ENDPOINT = 'https://api.example.com/prod';
  process.env.PUSH_TOKEN_SECRET = 'unit-test-secret-of-sufficient-length';
  process.env.PUSH_SEND_ATTEMPTS = '3';
  process.env.PUSH_MESSAGES_TABLE = 'unit-messages';
  // Small enough that a batch test can see the bound on posts in flight.
  process.env.PUSH_FANOUT_CONCURRENCY = '2';
  delete process.env.PUSH_TOKEN_SECRET_ARN;
  delete process.env.PUSH_TOKEN_AUDIENCE;
  delete process.env.DYNAMODB_ENDPOINT;
  // No topic keeps history: a topic resume is refused.
  delete process.env.PUSH_TOPIC_HISTORY;
});

import { handler as authorize } from '../../lambdas/authorizer';
import { handler as connect } from '../../lambdas/connect';
import { expiresAtFor } from '../../lambdas/core/expiry';
import { shardOf } from '../../lambdas/core/shard';
import { secretKey, signToken } from '../../lambdas/core/token';
import { handler as onDefault } from '../../lambdas/default';
import { handler as disconnect } from '../../lambdas/disconnect';
import { handler as publish } from '../../lambdas/publish';
import type { WebSocketEvent } from '../../lambdas/shared/events';
import { LIMITS } from '../../lambdas/shared/limits';
import { bridgeToDocumentMock, mockHotDynamo, mockHotManagement } from './document-bridge';

const ddb = mockClient(DynamoDBDocumentClient);
// The message log and the store's index reads use the low-level client: their calls reach `ddb`.
const raw = mockHotDynamo();
const api = mockHotManagement();
const key = secretKey('unit-test-secret-of-sufficient-length');
const TABLE = 'unit-connections';
/** A revocation line a minute old, and its record as a kick writes it. */
const LINE = Math.floor(Date.now() / 1000) - 60;
const LINE_ITEM = {
  revokedBefore: LINE,
  expiresAt: LINE + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds,
};
/** A uid's record holding only a cool-off until `untilMs`, as `$default` writes it on a flood. */
const COOLING_ITEM = (untilMs: number) => ({
  coolOffUntil: untilMs,
  expiresAt: Math.ceil(untilMs / 1000) + LIMITS.expiryMarginSeconds,
});

beforeEach(() => {
  ddb.reset();
  raw.reset();
  bridgeToDocumentMock(raw);
  api.reset();
});

function wsEvent(
  routeKey: string,
  options: { body?: string; authorizer?: Record<string, unknown>; connectionId?: string } = {},
): WebSocketEvent {
  return {
    requestContext: {
      routeKey,
      eventType: routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE',
      messageDirection: 'IN',
      stage: 'prod',
      connectedAt: 1_700_000_000_000,
      requestTimeEpoch: 1_700_000_000_000,
      requestId: 'r1',
      domainName: 'api.example.com',
      connectionId: options.connectionId ?? 'c1',
      apiId: 'api',
      identity: { sourceIp: '203.0.113.9', userAgent: 'test-agent' },
      authorizer: (options.authorizer ?? {
        uid: 'u1',
        grants: '["orders","chat.*"]',
        principalId: 'u1',
      }) as never,
    },
    isBase64Encoded: false,
    ...(options.body === undefined ? {} : { body: options.body }),
  };
}

function authEvent(token?: string) {
  return {
    type: 'REQUEST' as const,
    methodArn: 'arn:aws:execute-api:us-east-1:123456789012:api/prod/$connect',
    queryStringParameters: token === undefined ? {} : { token },
    requestContext: { connectionId: 'c1' },
  };
}

describe('authorizer', () => {
  it('allows a valid token and passes uid and grants on as context', async () => {
    ddb.on(GetCommand).resolves({});
    const token = await signToken({ uid: 'u1', topics: ['orders'] }, key);
    const result = await authorize(authEvent(token));
    // One strongly consistent read of the uid's revocation record.
    expect(ddb.commandCalls(GetCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: TABLE,
        Key: { pk: 'revoked#u1', sk: 'revoked' },
        ConsistentRead: true,
      },
    ]);
    expect(result.principalId).toBe('u1');
    expect(result.policyDocument.Statement).toEqual([
      {
        Action: 'execute-api:Invoke',
        Effect: 'Allow',
        Resource: 'arn:aws:execute-api:us-east-1:123456789012:api/prod/$connect',
      },
    ]);
    expect(result.context).toMatchObject({ uid: 'u1', grants: '["orders"]' });
    expect(typeof result.context.exp).toBe('number');
  });

  it.each([
    ['missing', undefined],
    ['forged', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl'],
    ['expired', 'expired'],
  ])('answers Unauthorized (401) for a %s token', async (_label, token) => {
    const value = token === 'expired' ? await signToken({ uid: 'u1', ttlSeconds: -10 }, key) : token;
    await expect(authorize(authEvent(value))).rejects.toThrow(/^Unauthorized$/);
    // A token refused on its own merits costs no read.
    expect(ddb.commandCalls(GetCommand)).toHaveLength(0);
  });

  it.each([
    ['issued before the revocation', -20, false],
    ['issued in the revocation second', -10, false],
    ['issued after the revocation', 0, true],
  ])('checks a token %s against the revocation record', async (_label, issuedOffset, allowed) => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    ddb.on(GetCommand).resolves({ Item: { revokedBefore: nowSeconds - 10, expiresAt: nowSeconds + 3600 } });
    const token = await signToken(
      { uid: 'u1', nowMs: (nowSeconds + issuedOffset) * 1000, ttlSeconds: 600 },
      key,
    );
    if (allowed) await expect(authorize(authEvent(token))).resolves.toMatchObject({ principalId: 'u1' });
    else await expect(authorize(authEvent(token))).rejects.toThrow(/^Unauthorized$/);
  });

  it('refuses a token without iat once its uid was revoked, and ignores an expired revocation', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const noIat = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setExpirationTime(nowSeconds + 600)
      .sign(key);
    ddb.on(GetCommand).resolves({ Item: { revokedBefore: nowSeconds - 10, expiresAt: nowSeconds + 3600 } });
    await expect(authorize(authEvent(noIat))).rejects.toThrow(/^Unauthorized$/);
    ddb.on(GetCommand).resolves({ Item: { revokedBefore: nowSeconds - 10, expiresAt: nowSeconds - 1 } });
    await expect(authorize(authEvent(noIat))).resolves.toMatchObject({ principalId: 'u1' });
  });

  it("refuses every token of a uid in a flood's cool-off until it ends", async () => {
    const nowMs = Date.now();
    const token = await signToken({ uid: 'u1', nowMs, ttlSeconds: 600 }, key);
    const expiresAt = Math.floor(nowMs / 1000) + 3600;
    ddb.on(GetCommand).resolves({ Item: { coolOffUntil: nowMs + 60_000, expiresAt } });
    await expect(authorize(authEvent(token))).rejects.toThrow(/^Unauthorized$/);
    ddb.on(GetCommand).resolves({ Item: { coolOffUntil: nowMs - 1, expiresAt } });
    await expect(authorize(authEvent(token))).resolves.toMatchObject({ principalId: 'u1' });
  });
});

describe('authorizer metrics', () => {
  /** The EMF lines `run` writes, parsed. */
  async function emfOf(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await run().catch(() => {});
    } finally {
      spy.mockRestore();
    }
    return lines
      .map((l) => l.trim())
      .filter((l) => l.startsWith('{') && l.includes('"_aws"'))
      .map((l) => JSON.parse(l));
  }

  it('counts a handshake it failed on (a revocation read DynamoDB refused) as AuthorizerFailures', async () => {
    ddb.on(GetCommand).rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
    const token = await signToken({ uid: 'u1' }, key);
    const emf = await emfOf(() => authorize(authEvent(token)));
    expect(emf).toEqual([expect.objectContaining({ AuthorizerFailures: 1 })]);
    expect(emf[0]).not.toHaveProperty('AuthorizerDenials');
  });

  it("counts a revocation read that hangs as AuthorizerFailures, a second before the function's timeout", async () => {
    // DynamoDB stalled: each attempt may take 5 s and the SDK retries, past the 10 s function, whose
    // timeout counts nothing; the handshake's 500 must still show in the alarm's metric.
    ddb.on(GetCommand).callsFake(() => new Promise(() => {}));
    const token = await signToken({ uid: 'u1' }, key);
    // Without the bound the handler never settles, and the test times out.
    const emf = await emfOf(() => authorize(authEvent(token), { getRemainingTimeInMillis: () => 1_200 }));
    expect(emf).toEqual([expect.objectContaining({ AuthorizerFailures: 1 })]);
  });

  it('counts a refused token as AuthorizerDenials, not as a failure', async () => {
    const emf = await emfOf(() => authorize(authEvent('not-a-token')));
    expect(emf).toEqual([expect.objectContaining({ AuthorizerDenials: 1 })]);
    expect(emf[0]).not.toHaveProperty('AuthorizerFailures');
  });
});

describe('$connect', () => {
  it('stores the connection with uid, shard, grants, identity and expiry', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(GetCommand).resolves({});
    const before = Date.now();
    await expect(connect(wsEvent('$connect'))).resolves.toEqual({ statusCode: 200 });
    const item = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item;
    expect(ddb.commandCalls(PutCommand)[0]?.args[0].input.TableName).toBe(TABLE);
    expect(item).toMatchObject({
      pk: 'c1',
      sk: 'conn',
      uid: 'u1',
      shard: shardOf('c1'),
      connectedAt: 1_700_000_000_000,
      grants: ['orders', 'chat.*'],
      sourceIp: '203.0.113.9',
      userAgent: 'test-agent',
    });
    expect(item?.expiresAt).toBeGreaterThanOrEqual(expiresAtFor(before));
  });

  it.each([
    [
      'an emoji across the cut',
      `${'a'.repeat(LIMITS.maxUserAgentLength - 1)}😀b`,
      'a'.repeat(LIMITS.maxUserAgentLength - 1),
    ],
    [
      'an emoji just inside it',
      `${'a'.repeat(LIMITS.maxUserAgentLength - 2)}😀b`,
      `${'a'.repeat(LIMITS.maxUserAgentLength - 2)}😀`,
    ],
    ['no emoji', 'u'.repeat(LIMITS.maxUserAgentLength + 5), 'u'.repeat(LIMITS.maxUserAgentLength)],
  ])(
    'cuts a long user agent to its limit, never inside a surrogate pair: %s',
    async (_, userAgent, stored) => {
      ddb.on(PutCommand).resolves({});
      ddb.on(GetCommand).resolves({});
      const event = wsEvent('$connect');
      const identity = { ...event.requestContext.identity, userAgent };
      await expect(
        connect({ ...event, requestContext: { ...event.requestContext, identity } }),
      ).resolves.toEqual({
        statusCode: 200,
      });
      expect(ddb.commandCalls(PutCommand)[0]?.args[0].input.Item?.userAgent).toBe(stored);
    },
  );

  it.each([
    ['a token issued at the revocation', 401, LINE, LINE_ITEM],
    ['a token without iat', 401, undefined, LINE_ITEM],
    ['a token issued a second after it', 200, LINE + 1, LINE_ITEM],
    // $default closed a connection of the uid for flooding after the authorizer let this one in.
    ['a uid in a flood’s cool-off', 401, LINE + 1, COOLING_ITEM(Date.now() + 60_000)],
    ['a uid whose cool-off has ended', 200, LINE + 1, COOLING_ITEM(Date.now() - 1)],
    [
      'a uid cooling off past an older revocation',
      401,
      LINE + 1,
      { ...LINE_ITEM, coolOffUntil: Date.now() + 60_000 },
    ],
  ])(
    'checks the uid’s revocation record once the record is stored: %s gets %i',
    async (_, status, iat, item) => {
      ddb.on(PutCommand).resolves({});
      ddb.on(GetCommand).resolves({ Item: item });
      ddb
        .on(QueryCommand, { KeyConditionExpression: '#pk = :pk' })
        .resolves({ Items: [{ pk: 'c1', sk: 'conn' }] });
      ddb.on(QueryCommand, { IndexName: 'byUid' }).resolves({ Items: [] });
      ddb.on(DeleteCommand).resolves({});
      const authorizer = {
        uid: 'u1',
        grants: '[]',
        principalId: 'u1',
        ...(iat === undefined ? {} : { iat: String(iat) }),
      };
      await expect(connect(wsEvent('$connect', { authorizer }))).resolves.toEqual({ statusCode: status });
      expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
        TableName: TABLE,
        Key: { pk: 'revoked#u1', sk: 'revoked' },
        ConsistentRead: true,
      });
      // The put came first, so a revocation recorded after this read is the kick's to act on.
      const order = ddb.calls().map((call) => call.args[0].constructor.name);
      expect(order.slice(0, 2)).toEqual(['PutCommand', 'GetCommand']);
      expect(ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input.Key)).toEqual(
        status === 401 ? [{ pk: 'c1', sk: 'conn' }] : [],
      );
    },
  );

  it('opens the connection, keeping its record, when the second revocation read fails', async () => {
    ddb.on(PutCommand).resolves({});
    ddb
      .on(GetCommand)
      .rejects(
        Object.assign(new Error('down'), { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }),
      );
    ddb.on(QueryCommand).resolves({ Items: [] });
    await expect(connect(wsEvent('$connect'))).resolves.toEqual({ statusCode: 200 });
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it.each([
    ['the second revocation read', GetCommand],
    ['the connection cap’s lookup', QueryCommand],
  ])('opens the connection when %s does not answer before the invocation’s margin', async (_, stalled) => {
    ddb.on(PutCommand).resolves({});
    ddb.on(GetCommand).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(stalled as typeof GetCommand).callsFake(() => new Promise(() => {}));
    // 60 ms of the invocation left once the margin is taken off.
    const context = { getRemainingTimeInMillis: () => LIMITS.connectMarginMs + 60 };
    await expect(connect(wsEvent('$connect'), context)).resolves.toEqual({ statusCode: 200 });
    expect(ddb.commandCalls(stalled as typeof GetCommand)).toHaveLength(1);
    expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('refuses a revoked token with 401 in time when removing its record does not answer', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(GetCommand).resolves({ Item: LINE_ITEM });
    ddb.on(QueryCommand).callsFake(() => new Promise(() => {}));
    ddb.on(DeleteCommand).callsFake(() => new Promise(() => {}));
    const authorizer = { uid: 'u1', grants: '[]', principalId: 'u1', iat: String(LINE) };
    const context = { getRemainingTimeInMillis: () => LIMITS.connectMarginMs + 60 };
    await expect(connect(wsEvent('$connect', { authorizer }), context)).resolves.toEqual({ statusCode: 401 });
  });

  describe('at the per-uid cap', () => {
    const NOW = Date.now();
    const FAR = Math.ceil(NOW / 1000) + 3600;
    /** The uid's connections as its index answers: `count` others, the oldest seen `old`, and c1. */
    const crowd = (count: number) => [
      ...Array.from({ length: count }, (_, n) => ({
        pk: n === 0 ? 'old' : `other${n}`,
        sk: 'conn',
        connectionId: n === 0 ? 'old' : `other${n}`,
        uid: 'u1',
        connectedAt: NOW - 60_000 + n,
        lastSeenAt: NOW - 60_000 + n,
        expiresAt: FAR,
      })),
      {
        pk: 'c1',
        sk: 'conn',
        connectionId: 'c1',
        uid: 'u1',
        connectedAt: 9_000,
        lastSeenAt: 9_000,
        expiresAt: FAR,
      },
    ];
    const OWN = { Key: { pk: 'c1', sk: 'conn' } };

    beforeEach(() => {
      ddb.on(PutCommand).resolves({});
      ddb.on(GetCommand).resolves({});
      ddb.on(GetCommand, OWN).resolves({ Item: { pk: 'c1' } });
      ddb.on(QueryCommand, { KeyConditionExpression: '#pk = :pk' }).resolves({ Items: [] });
      api.on(PostToConnectionCommand).resolves({});
      api.on(DeleteConnectionCommand).resolves({});
    });

    it.each([
      ['ends the least recently seen once it wins the claim', true, ['old']],
      ['leaves it to the connect that won the claim', false, []],
    ])('%s', async (_, won, ended) => {
      ddb.on(QueryCommand, { IndexName: 'byUid' }).resolves({ Items: crowd(LIMITS.maxConnectionsPerUid) });
      if (won) ddb.on(DeleteCommand).resolves({});
      else {
        ddb
          .on(DeleteCommand)
          .rejects(Object.assign(new Error('gone'), { name: 'ConditionalCheckFailedException' }));
      }
      await expect(connect(wsEvent('$connect'))).resolves.toEqual({ statusCode: 200 });
      expect(ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input)).toEqual([
        {
          TableName: TABLE,
          Key: { pk: 'old', sk: 'conn' },
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': 'pk' },
        },
      ]);
      expect(
        api
          .commandCalls(PostToConnectionCommand)
          .map((c) => [c.args[0].input.ConnectionId, String(c.args[0].input.Data)]),
      ).toEqual(ended.map((id) => [id, '{"type":"kicked","reason":"connection_limit"}']));
      expect(api.commandCalls(DeleteConnectionCommand).map((c) => c.args[0].input.ConnectionId)).toEqual(
        ended,
      );
    });

    it("closes the evicted connection with one send's time left, its kicked frame still unanswered", async () => {
      // Its record is claimed (deleted) first: a close never sent would leave a socket no push reaches.
      ddb.on(QueryCommand, { IndexName: 'byUid' }).resolves({ Items: crowd(LIMITS.maxConnectionsPerUid) });
      ddb.on(DeleteCommand).resolves({});
      api.on(PostToConnectionCommand).callsFake(() => new Promise(() => {}));
      // 5 s left: the frame may take until 5 s less the 1 s margin and one send (3.5 s), 0.5 s.
      const context = { getRemainingTimeInMillis: () => 5_000 };

      await expect(connect(wsEvent('$connect'), context)).resolves.toEqual({ statusCode: 200 });

      expect(api.commandCalls(PostToConnectionCommand).map((c) => c.args[0].input.ConnectionId)).toEqual([
        'old',
      ]);
      expect(api.commandCalls(DeleteConnectionCommand).map((c) => c.args[0].input.ConnectionId)).toEqual([
        'old',
      ]);
    });

    it('refuses the handshake with 429 when its own record was claimed while it ran', async () => {
      ddb
        .on(QueryCommand, { IndexName: 'byUid' })
        .resolves({ Items: crowd(LIMITS.maxConnectionsPerUid - 1) });
      ddb.on(GetCommand, OWN).resolves({});
      await expect(connect(wsEvent('$connect'))).resolves.toEqual({ statusCode: 429 });
      expect(ddb.commandCalls(GetCommand, OWN)[0]?.args[0].input).toMatchObject({ ConsistentRead: true });
      expect(ddb.commandCalls(DeleteCommand)).toHaveLength(0);
    });

    it('opens when reading its own record again fails', async () => {
      ddb
        .on(QueryCommand, { IndexName: 'byUid' })
        .resolves({ Items: crowd(LIMITS.maxConnectionsPerUid - 1) });
      ddb.on(GetCommand, OWN).rejects(
        Object.assign(new Error('down'), {
          name: 'InternalServerError',
          $metadata: { httpStatusCode: 500 },
        }),
      );
      await expect(connect(wsEvent('$connect'))).resolves.toEqual({ statusCode: 200 });
    });

    it('does not read its own record again below the cap', async () => {
      ddb
        .on(QueryCommand, { IndexName: 'byUid' })
        .resolves({ Items: crowd(LIMITS.maxConnectionsPerUid - 2) });
      await expect(connect(wsEvent('$connect'))).resolves.toEqual({ statusCode: 200 });
      expect(ddb.commandCalls(GetCommand, OWN)).toHaveLength(0);
    });
  });

  it('refuses (403) and stores nothing without an authorizer context', async () => {
    await expect(connect(wsEvent('$connect', { authorizer: {} }))).resolves.toEqual({ statusCode: 403 });
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('fails the handshake when DynamoDB is down', async () => {
    ddb
      .on(PutCommand)
      .rejects(
        Object.assign(new Error('down'), { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }),
      );
    await expect(connect(wsEvent('$connect'))).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('$disconnect', () => {
  it('deletes every record of the connection', async () => {
    ddb.on(QueryCommand).resolves({
      Items: [
        { pk: 'c1', sk: 'conn' },
        { pk: 'c1', sk: 'topic#orders' },
      ],
    });
    ddb.on(BatchWriteCommand).resolves({});
    await expect(disconnect(wsEvent('$disconnect'))).resolves.toEqual({ statusCode: 200 });
    expect(ddb.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems).toEqual({
      [TABLE]: [
        { DeleteRequest: { Key: { pk: 'c1', sk: 'conn' } } },
        { DeleteRequest: { Key: { pk: 'c1', sk: 'topic#orders' } } },
      ],
    });
  });
});

describe('$default', () => {
  const reply = async (body: string | undefined, options: { authorizer?: Record<string, unknown> } = {}) => {
    const result = await onDefault(wsEvent('$default', { ...options, body }));
    expect(result.statusCode).toBe(200);
    return JSON.parse(result.body ?? 'null');
  };

  it('answers ping with pong carrying the uid stream’s latest seq, and pushes the expiry forward', async () => {
    ddb.on(UpdateCommand).resolves({});
    ddb.on(GetCommand).resolves({ Item: { latest: 7, epoch: 'E1' } });
    const before = Date.now();
    const frame = await reply('{"action":"ping"}');
    expect(frame).toEqual({ type: 'pong', ts: frame.ts, seq: 7, epoch: 'E1' });
    expect(frame.ts).toBeGreaterThanOrEqual(before);
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'unit-messages',
      Key: { stream: 'uid#u1', seq: 0 },
      ConsistentRead: true,
    });
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      TableName: TABLE,
      Key: { pk: 'c1', sk: 'conn' },
      ExpressionAttributeValues: { ':seen': frame.ts, ':exp': expiresAtFor(frame.ts) },
    });
  });

  it('answers a ping with gone when the connection record has disappeared', async () => {
    ddb.on(GetCommand).resolves({});
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }));
    await expect(reply('{"action":"ping"}')).resolves.toEqual({
      type: 'error',
      code: 'gone',
      message: 'connection c1 is no longer registered; reconnect',
    });
  });

  it('tells the client to retry later when DynamoDB throttles', async () => {
    ddb.on(GetCommand).resolves({});
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('slow'), { name: 'ProvisionedThroughputExceededException' }));
    await expect(reply('{"action":"ping"}')).resolves.toEqual({
      type: 'error',
      code: 'unavailable',
      message: 'DynamoDB throttled UpdateItem',
    });
  });

  it('subscribes to a granted topic', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(GetCommand).resolves({ Item: { topics: new Set(['chat.room1']) } });
    await expect(reply('{"action":"subscribe","topic":"chat.room1"}')).resolves.toEqual({
      type: 'subscribed',
      topic: 'chat.room1',
    });
    expect(ddb.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      pk: 'c1',
      sk: 'topic#chat.room1',
      topic: 'chat.room1',
      topicShard: shardOf('c1'),
      subscriber: 'u1',
    });
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: 'c1', sk: 'conn' },
      ConditionExpression:
        'attribute_exists(#pk) AND (attribute_not_exists(#topics) OR contains(#topics, :name) OR size(#topics) < :max)',
      ExpressionAttributeValues: { ':topic': new Set(['chat.room1']), ':name': 'chat.room1', ':max': 100 },
    });
  });

  it('takes the subscription record back when an unsubscribe racing it took the topic off the connection record', async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(DeleteCommand).resolves({});
    // Read after the record was written: the note is gone, so an unsubscribe ran in between.
    ddb.on(GetCommand).resolves({ Item: { topics: new Set(['other']) } });
    await expect(reply('{"action":"subscribe","topic":"chat.room1"}')).resolves.toEqual({
      type: 'subscribed',
      topic: 'chat.room1',
    });
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: 'c1', sk: 'conn' },
      ConsistentRead: true,
    });
    expect(ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input.Key)).toEqual([
      { pk: 'c1', sk: 'topic#chat.room1' },
    ]);
  });

  it('answers gone when the connection record has disappeared, storing no subscription', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand).resolves({});
    await expect(reply('{"action":"subscribe","topic":"orders"}')).resolves.toEqual({
      type: 'error',
      code: 'gone',
      message: 'connection c1 is no longer registered; reconnect',
      topic: 'orders',
    });
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('answers limit_exceeded when the connection already holds the most topics, storing nothing', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand).resolves({ Item: { pk: 'c1' } });
    await expect(reply('{"action":"subscribe","topic":"orders"}')).resolves.toEqual({
      type: 'error',
      code: 'limit_exceeded',
      message: 'a connection may subscribe to at most 100 topics; unsubscribe from one first',
      topic: 'orders',
    });
    expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: 'c1', sk: 'conn' },
      ConsistentRead: true,
    });
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('refuses a topic the token does not grant, storing nothing', async () => {
    await expect(reply('{"action":"subscribe","topic":"billing"}')).resolves.toEqual({
      type: 'error',
      code: 'forbidden',
      message: 'token does not grant topic billing',
      topic: 'billing',
    });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('refuses a resume of a topic that keeps no history, reading and replaying nothing', async () => {
    await expect(reply('{"action":"resume","since":0,"topic":"orders"}')).resolves.toEqual({
      type: 'error',
      code: 'bad_request',
      message: 'topic orders keeps no history',
      topic: 'orders',
    });
    expect(ddb.calls()).toHaveLength(0);
    expect(api.calls()).toHaveLength(0);
  });

  it('unsubscribes', async () => {
    ddb.on(DeleteCommand).resolves({});
    await expect(reply('{"action":"unsubscribe","topic":"orders"}')).resolves.toEqual({
      type: 'unsubscribed',
      topic: 'orders',
    });
    expect(ddb.commandCalls(DeleteCommand)[0]?.args[0].input.Key).toEqual({ pk: 'c1', sk: 'topic#orders' });
  });

  it.each([
    ['not json', 'bad_request', 'frame is not valid JSON'],
    [
      '{"action":"nope"}',
      'bad_request',
      'unknown action "nope"; expected one of ping, subscribe, unsubscribe, resume',
    ],
    [
      '{"action":"subscribe","topic":"bad topic"}',
      'bad_request',
      '"topic" must match [A-Za-z0-9_.:-]{1,128}',
    ],
    [
      JSON.stringify({ action: 'ping', pad: 'x'.repeat(9000) }),
      'payload_too_large',
      'frame exceeds 8192 bytes',
    ],
  ])('answers %j with an error frame and touches nothing', async (body, code, message) => {
    await expect(reply(body)).resolves.toEqual({ type: 'error', code, message });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('replays the caller’s own log through the Management API, then answers resumed', async () => {
    ddb.on(GetCommand).resolves({ Item: { stream: 'uid#u1', seq: 0, latest: 2 } });
    ddb.on(QueryCommand).resolves({
      Items: [{ stream: 'uid#u1', seq: 2, id: 'm2', data: '{"n":2}', ts: 5, expiresAt: 9_999_999_999 }],
    });
    api.on(PostToConnectionCommand).resolves({});
    await expect(reply('{"action":"resume","since":1}')).resolves.toEqual({ type: 'resumed', seq: 2 });
    expect(ddb.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'unit-messages',
      ExpressionAttributeValues: { ':stream': 'uid#u1', ':since': 1 },
    });
    const posted = api
      .commandCalls(PostToConnectionCommand)
      .map((c) => Buffer.from(c.args[0].input.Data as Uint8Array).toString());
    expect(posted).toEqual(['{"type":"message","id":"m2","seq":2,"data":{"n":2},"ts":5}']);
  });

  it('takes the connection’s replay lease until the invocation’s end, and gives it back', async () => {
    ddb.on(GetCommand).resolves({ Item: { latest: 0 } });
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(UpdateCommand).resolves({});
    const before = Date.now();
    const result = await onDefault(wsEvent('$default', { body: '{"action":"resume","since":0}' }), {
      getRemainingTimeInMillis: () => 10_000,
    });
    expect(JSON.parse(result.body ?? '')).toEqual({ type: 'resumed', seq: 0 });
    const [take, count, give] = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    // Between the two, the resume is counted against the uid's budget.
    expect(count?.Key).toMatchObject({ pk: 'resumes#u1' });
    expect(take).toMatchObject({
      TableName: TABLE,
      Key: { pk: 'c1', sk: 'conn' },
      ConditionExpression:
        'attribute_exists(#pk) AND ((attribute_not_exists(#lease) OR #lease <= :now) AND (attribute_not_exists(#win) OR #win <= :ago))',
      UpdateExpression: 'SET #lease = :until, #win = :now, #count = :one',
      ExpressionAttributeNames: { '#lease': 'replayUntil', '#win': 'resumeWindow', '#count': 'resumeCount' },
    });
    const until = take?.ExpressionAttributeValues?.[':until'] as number;
    expect(until).toBeGreaterThanOrEqual(before + 10_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 10_000);
    expect(give).toMatchObject({
      Key: { pk: 'c1', sk: 'conn' },
      ConditionExpression: 'attribute_exists(#pk) AND (#lease = :until)',
      UpdateExpression: 'REMOVE #lease',
      ExpressionAttributeValues: { ':until': until },
    });
  });

  it.each([
    [
      'another replay holds the lease',
      { replayUntil: Date.now() + 60_000 },
      'a replay is already running on this connection; resume after its resumed',
    ],
    [
      'the window’s budget is spent',
      { resumeWindow: Date.now() - 1_000, resumeCount: 30 },
      'more than 30 resumes in 60 s on this connection; resume later',
    ],
  ])('answers rate_limited, replaying nothing, when %s', async (_, item, message) => {
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand, { TableName: TABLE }).resolves({ Item: item });
    await expect(reply('{"action":"resume","since":0}')).resolves.toEqual({
      type: 'error',
      code: 'rate_limited',
      message,
    });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });

  it('answers unavailable, without throwing, when DynamoDB is down', async () => {
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('down'), { $metadata: { httpStatusCode: 503 } }));
    await expect(reply('{"action":"subscribe","topic":"orders"}')).resolves.toEqual({
      type: 'error',
      code: 'unavailable',
      message: 'DynamoDB unavailable during UpdateItem',
      topic: 'orders',
    });
  });
});

describe('$default past a connection frame allowance', () => {
  /** Frames of `connectionId` at one frozen instant (nothing refills) until `stop` says so. */
  async function flood(connectionId: string, stop: (body: string | undefined) => boolean, most = 1_000) {
    for (let sent = 1; sent <= most; sent++) {
      const result = await onDefault(wsEvent('$default', { connectionId, body: '{"action":"ping"}' }));
      if (stop(result.body)) return { sent, body: result.body };
    }
    throw new Error(`no stop within ${most} frames`);
  }

  /** Stdout lines written while `run` runs. */
  async function captured(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await run();
    } finally {
      spy.mockRestore();
    }
    return lines
      .flatMap((l) => l.split('\n'))
      .map((l) => l.trim())
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('answers a frame past the burst rate_limited with no DynamoDB or Management API call, then closes the connection and cools its uid off', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      ddb.on(UpdateCommand).resolves({});
      ddb.on(GetCommand).resolves({});
      api.on(DeleteConnectionCommand).resolves({});
      const refused = JSON.stringify({
        type: 'error',
        code: 'rate_limited',
        message: `too many frames from this connection (${LIMITS.frameBurst} at once, then ${LIMITS.framesPerSecond} per second); frames refused: slow down, or the connection is closed`,
      });
      // A whole burst runs.
      const first = await flood('burst-c', (body) => body === refused);
      expect(first.sent).toBe(LIMITS.frameBurst + 1);
      ddb.resetHistory();
      raw.resetHistory();
      api.resetHistory();
      // A refused subscribe carries its topic, so the client knows which to send again.
      const subscribe = await onDefault(
        wsEvent('$default', { connectionId: 'burst-c', body: '{"action":"subscribe","topic":"orders"}' }),
      );
      expect(JSON.parse(subscribe.body ?? '')).toEqual({ ...JSON.parse(refused), topic: 'orders' });
      const warn = vi.spyOn(Logger.prototype, 'warn');
      let closed: { sent: number; body: string | undefined } | undefined;
      const lines = await captured(async () => {
        closed = await flood('burst-c', (body) => body !== refused);
      });
      // Refusals 1 and 2 came before; 3 … refusalsToClose - 1 are answered, and the one reaching
      // it closes instead, with no answer (nothing reaches a closed connection).
      expect(closed).toEqual({ sent: LIMITS.frameRefusalsToClose - 2, body: undefined });
      // The two DynamoDB calls: the uid's last cool-off read (none), then its cool-off, on its
      // revocation record.
      expect(ddb.calls()).toHaveLength(2);
      expect(ddb.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
        Key: { pk: 'revoked#u1', sk: 'revoked' },
        ConsistentRead: true,
      });
      expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
        Key: { pk: 'revoked#u1', sk: 'revoked' },
        UpdateExpression: 'SET #until = :until, #ms = :ms, #exp = :exp',
        ExpressionAttributeValues: {
          ':until': Date.now() + LIMITS.floodCoolOffSeconds * 1000,
          ':ms': LIMITS.floodCoolOffSeconds * 1000,
        },
      });
      expect(raw.calls()).toHaveLength(0);
      expect(api.commandCalls(DeleteConnectionCommand).map((c) => c.args[0].input)).toEqual([
        { ConnectionId: 'burst-c' },
      ]);
      expect(api.calls()).toHaveLength(1);
      expect(warn.mock.calls).toEqual([
        [
          'connection closed for flooding',
          { connectionId: 'burst-c', uid: 'u1', refusals: LIMITS.frameRefusalsToClose },
        ],
      ]);
      const emf = lines.filter((l) => '_aws' in l);
      expect(emf).toEqual([expect.objectContaining({ FloodedConnections: 1 })]);
    } finally {
      vi.useRealTimers();
      vi.restoreAllMocks();
    }
  });

  it("writes the uid's cool-off before it closes the connection, so a reconnect on the close finds it", async () => {
    let written: () => void = () => undefined;
    ddb.on(UpdateCommand).resolves({});
    ddb.on(UpdateCommand, { Key: { pk: 'revoked#u1', sk: 'revoked' } }).callsFake(
      () =>
        new Promise((resolve) => {
          written = () => resolve({});
        }),
    );
    api.on(DeleteConnectionCommand).resolves({});
    const closing = flood('ordered-c', (body) => body === undefined);
    const coolOffs = () =>
      ddb.commandCalls(UpdateCommand).filter((c) => c.args[0].input.Key?.pk === 'revoked#u1');
    await vi.waitFor(() => expect(coolOffs()).toHaveLength(1), { timeout: 10_000 });
    expect(api.commandCalls(DeleteConnectionCommand)).toHaveLength(0);
    written();
    await closing;
    expect(api.commandCalls(DeleteConnectionCommand).map((c) => c.args[0].input)).toEqual([
      { ConnectionId: 'ordered-c' },
    ]);
  });

  it('logs a flood once, at its first refused frame, not once per frame', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      ddb.on(UpdateCommand).resolves({});
      ddb.on(GetCommand).resolves({});
      const info = vi.spyOn(Logger.prototype, 'info');
      const { sent } = await flood('logged-c', (body) => body?.includes('rate_limited') === true);
      expect(sent).toBe(LIMITS.frameBurst + 1);
      await expect(flood('logged-c', () => false, 10)).rejects.toThrow('no stop within 10 frames');
      expect(info.mock.calls.filter(([message]) => message === 'frames rate limited')).toEqual([
        ['frames rate limited', { connectionId: 'logged-c', uid: 'u1', scope: 'connection' }],
      ]);
    } finally {
      vi.useRealTimers();
      vi.restoreAllMocks();
    }
  });
});

describe('publish', () => {
  const now = Date.now();
  // Connected a minute ago: well past the grace a connection still inside $connect gets on 410.
  const record = (connectionId: string) => ({
    connectionId,
    uid: 'u1',
    connectedAt: now - 60_000,
    expiresAt: expiresAtFor(now),
  });

  it('delivers to live connections, retries a 429, deletes a 410 and counts a failure, exactly', async () => {
    ddb
      .on(UpdateCommand, { TableName: 'unit-messages' })
      .resolves({ Attributes: { latest: 7, epoch: 'E1' } });
    ddb.on(PutCommand, { TableName: 'unit-messages' }).resolves({});
    ddb
      .on(QueryCommand, { IndexName: 'byUid' })
      .resolves({ Items: ['live', 'gone', 'throttled', 'broken'].map(record) });
    ddb
      .on(QueryCommand, { KeyConditionExpression: '#pk = :pk' })
      .resolves({ Items: [{ pk: 'gone', sk: 'conn' }] });
    ddb.on(DeleteCommand).resolves({});
    api.on(PostToConnectionCommand, { ConnectionId: 'live' }).resolves({});
    api
      .on(PostToConnectionCommand, { ConnectionId: 'gone' })
      .rejects(new GoneException({ message: 'gone', $metadata: { httpStatusCode: 410 } }));
    api
      .on(PostToConnectionCommand, { ConnectionId: 'throttled' })
      .rejectsOnce(new LimitExceededException({ message: 'slow', $metadata: { httpStatusCode: 429 } }))
      .resolves({});
    api.on(PostToConnectionCommand, { ConnectionId: 'broken' }).rejects(
      Object.assign(new Error('x'), {
        name: 'InternalServerErrorException',
        $metadata: { httpStatusCode: 500 },
      }),
    );

    const result = await publish({ to: { uid: 'u1' }, data: { orderId: 42 }, id: 'order-42' });

    expect(result).toEqual({ id: 'order-42', connections: 4, delivered: 2, gone: 1, failed: 1, stored: 0 });
    expect(ddb.commandCalls(PutCommand)[0]?.args[0].input).toEqual({
      TableName: 'unit-messages',
      Item: {
        stream: 'uid#u1',
        seq: 7,
        id: 'order-42',
        data: '{"orderId":42}',
        epoch: 'E1',
        ts: expect.any(Number),
        expiresAt: expect.any(Number),
      },
    });
    expect(ddb.commandCalls(DeleteCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: TABLE, Key: { pk: 'gone', sk: 'conn' } },
    ]);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
    const posts = api.commandCalls(PostToConnectionCommand).map((c) => c.args[0].input.ConnectionId);
    expect(posts.filter((id) => id === 'throttled')).toHaveLength(2);
    expect(posts.filter((id) => id === 'broken')).toHaveLength(3);
    const frame = JSON.parse(
      Buffer.from(api.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data as Uint8Array).toString(),
    );
    expect(frame).toEqual({
      type: 'message',
      id: 'order-42',
      seq: 7,
      epoch: 'E1',
      data: { orderId: 42 },
      ts: expect.any(Number),
    });
  });

  it.each([
    [{ to: { uid: 'u1' } }, 'bad_request', 'data is required'],
    [{ to: { group: 'g' }, data: 1 }, 'bad_request', 'unknown field to.group'],
    ['{', 'bad_request', 'body is not valid JSON'],
    [
      { to: { uid: 'u1' }, data: 'x'.repeat(200_000) },
      'payload_too_large',
      'data exceeds 130048 bytes when serialized',
    ],
  ])('answers an invalid body %# with %s and sends nothing', async (body, code, message) => {
    await expect(publish(body)).resolves.toEqual({ error: { code, message } });
    expect(ddb.calls()).toHaveLength(0);
    expect(api.calls()).toHaveLength(0);
  });

  it('logs a body refused for its input as request rejected at WARN', async () => {
    // An Event invoke answers no one: what it sent wrong must show at push:logLevel=WARN.
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const info = vi.spyOn(Logger.prototype, 'info');
    try {
      await expect(publish({ to: { uid: 'u1' } })).resolves.toHaveProperty('error.code', 'bad_request');
      expect(warn).toHaveBeenCalledWith('request rejected', expect.objectContaining({ code: 'bad_request' }));
      expect(info).not.toHaveBeenCalledWith('request rejected', expect.anything());
    } finally {
      warn.mockRestore();
      info.mockRestore();
    }
  });

  it('throws on a DynamoDB failure so the caller can retry', async () => {
    ddb.on(QueryCommand).resolves({ Items: [] });
    ddb.on(UpdateCommand).rejects(Object.assign(new Error('down'), { $metadata: { httpStatusCode: 500 } }));
    await expect(publish({ to: { uid: 'u1' }, data: 1 })).rejects.toMatchObject({ code: 'unavailable' });
  });

  it("publishes a batch in one invocation, keeping one uid's items in batch order, and answers each result in place", async () => {
    let seq = 0;
    const appended: string[] = [];
    ddb.on(UpdateCommand, { TableName: 'unit-messages' }).callsFake(async (input) => {
      appended.push(String(input.Key?.stream));
      return { Attributes: { latest: ++seq, epoch: 'E1' } };
    });
    ddb.on(PutCommand, { TableName: 'unit-messages' }).resolves({});
    // u1's first lookup waits for the test: a batch that did not keep order would log and post
    // b-3 (also to u1) meanwhile; u2's item, unrelated, must not wait. A uid's seq is taken once
    // its lookup has answered, so nothing is logged for u1 while its lookup waits.
    let releaseFirst!: () => void;
    const firstLookup = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let u1Lookups = 0;
    ddb
      .on(QueryCommand, { IndexName: 'byUid', ExpressionAttributeValues: { ':k': 'u1' } })
      .callsFake(async () => {
        if (++u1Lookups === 1) await firstLookup;
        return { Items: [record('c1')] };
      });
    ddb.on(QueryCommand, { IndexName: 'byUid', ExpressionAttributeValues: { ':k': 'u2' } }).resolves({
      Items: [],
    });
    api.on(PostToConnectionCommand).resolves({});

    const pending = publish({
      batch: [
        { to: { uid: 'u1' }, data: 'first', id: 'b-1' },
        { to: { uid: 'u2' }, data: 'offline', id: 'b-2' },
        { to: { uid: 'u1' }, data: 'second', id: 'b-3' },
      ],
    });
    await vi.waitFor(() => expect(appended).toEqual(['uid#u2']));
    await new Promise((resolve) => setImmediate(resolve));
    expect(appended).toEqual(['uid#u2']);
    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(0);
    releaseFirst();
    const result = await pending;

    expect(result).toEqual({
      results: [
        { id: 'b-1', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        { id: 'b-2', connections: 0, delivered: 0, gone: 0, failed: 0, stored: 1 },
        { id: 'b-3', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
      ],
    });
    expect(appended).toEqual(['uid#u2', 'uid#u1', 'uid#u1']);
    const frames = api
      .commandCalls(PostToConnectionCommand)
      .map((c) => JSON.parse(Buffer.from(c.args[0].input.Data as Uint8Array).toString()));
    expect(frames.map((f) => [f.id, f.data])).toEqual([
      ['b-1', 'first'],
      ['b-3', 'second'],
    ]);
    expect(frames[0].seq).toBeLessThan(frames[1].seq);
  });

  it('bounds the posts of a whole batch in flight by the fan-out concurrency, not per item', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { latest: 1, epoch: 'E1' } });
    ddb.on(PutCommand).resolves({});
    ddb.on(QueryCommand, { IndexName: 'byUid' }).callsFake(async (input) => ({
      Items: [
        record(`${input.ExpressionAttributeValues[':k']}-a`),
        record(`${input.ExpressionAttributeValues[':k']}-b`),
      ],
    }));
    let inFlight = 0;
    let peak = 0;
    api.on(PostToConnectionCommand).callsFake(async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return {};
    });
    const result = (await publish({
      batch: ['u1', 'u2', 'u3', 'u4'].map((uid) => ({ to: { uid }, data: 1 })),
    })) as { results: { delivered: number }[] };
    expect(result.results.map((r) => r.delivered)).toEqual([2, 2, 2, 2]);
    // PUSH_FANOUT_CONCURRENCY is 2 here: four items of two posts each never have more than 2 out.
    expect(peak).toBe(2);
  });

  it('does not start a batch item with less than the margin left of the timeout, and fails the invocation', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { latest: 1, epoch: 'E1' } });
    ddb.on(PutCommand).resolves({});
    ddb.on(QueryCommand, { IndexName: 'byUid' }).resolves({ Items: [record('c1')] });
    api.on(PostToConnectionCommand).resolves({});
    let left = 60_000;
    const context = { awsRequestId: 'req-deadline', getRemainingTimeInMillis: () => left };
    ddb.on(UpdateCommand).callsFake(async () => {
      // The first item's work uses up the time: the second, queued behind it for u1, must not start.
      left = 4_000;
      return { Attributes: { latest: 1, epoch: 'E1' } };
    });
    await expect(
      publish(
        {
          batch: [
            { to: { uid: 'u1' }, data: 1, id: 'd-1' },
            { to: { uid: 'u1' }, data: 2, id: 'd-2' },
          ],
        },
        context,
      ),
    ).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringContaining('batch[1] not started'),
    });
    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(1);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
  });

  it('refuses a whole batch with one bad item, naming it, and sends nothing', async () => {
    const result = await publish({
      batch: [
        { to: { uid: 'u1' }, data: 1 },
        { to: { uid: 'u2' }, data: 2, id: 'bad id' },
      ],
    });
    expect(result).toEqual({
      error: { code: 'bad_request', message: 'batch[1]: id must match [A-Za-z0-9_.:-]{1,128}' },
    });
    expect(ddb.calls()).toHaveLength(0);
    expect(api.calls()).toHaveLength(0);
  });

  it('fails a batch invocation on an infrastructure failure after running every item, so it is retried', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { latest: 1, epoch: 'E1' } });
    ddb.on(PutCommand).resolves({});
    ddb
      .on(QueryCommand, { IndexName: 'byUid', ExpressionAttributeValues: { ':k': 'u1' } })
      .rejects(Object.assign(new Error('down'), { $metadata: { httpStatusCode: 500 } }));
    // u2's lookup answers late: an invocation that failed as soon as u1's item did would return
    // before u2's message is posted.
    ddb
      .on(QueryCommand, { IndexName: 'byUid', ExpressionAttributeValues: { ':k': 'u2' } })
      .callsFake(async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { Items: [record('c2')] };
      });
    api.on(PostToConnectionCommand).resolves({});
    await expect(
      publish({
        batch: [
          { to: { uid: 'u1' }, data: 1, id: 'x-1' },
          { to: { uid: 'u2' }, data: 2, id: 'x-2' },
        ],
      }),
    ).rejects.toMatchObject({ code: 'unavailable' });
    expect(api.commandCalls(PostToConnectionCommand).map((c) => c.args[0].input.ConnectionId)).toEqual([
      'c2',
    ]);
  });

  const sns = (...messages: string[]) => ({
    Records: messages.map((Message, i) => ({ EventSource: 'aws:sns', Sns: { MessageId: `m${i}`, Message } })),
  });

  it('publishes every SNS record and counts a bad one without blocking the rest', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { latest: 1, epoch: 'E1' } });
    ddb.on(PutCommand).resolves({});
    ddb.on(QueryCommand, { IndexName: 'byUid' }).resolves({ Items: [record('live')] });
    api.on(PostToConnectionCommand).resolves({});
    const summary = await publish(
      sns('{"to":{"uid":"u1"},"data":1,"id":"a"}', 'garbage', '{"to":{"uid":"u1"},"data":2,"id":"b"}'),
    );
    expect(summary).toEqual({
      results: [
        { id: 'a', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        { id: 'b', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
      ],
      rejected: 1,
    });
  });

  it('names a publish without an id after the SNS message or the Lambda request, which retries keep', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { latest: 1, epoch: 'E1' } });
    ddb.on(PutCommand).resolves({});
    ddb.on(QueryCommand, { IndexName: 'byUid' }).resolves({ Items: [record('live')] });
    api.on(PostToConnectionCommand).resolves({});
    const fromSns = await publish(
      sns(
        '{"to":{"uid":"u1"},"data":1}',
        '{"batch":[{"to":{"uid":"u1"},"data":2},{"to":{"uid":"u1"},"data":3}]}',
      ),
    );
    expect(fromSns).toMatchObject({ results: [{ id: 'm0' }, { id: 'm1:0' }, { id: 'm1:1' }] });
    const direct = await publish({ to: { uid: 'u1' }, data: 4 }, { awsRequestId: 'req-1' });
    expect(direct).toMatchObject({ id: 'req-1', delivered: 1 });
    const frames = api
      .commandCalls(PostToConnectionCommand)
      .map((c) => JSON.parse(Buffer.from(c.args[0].input.Data as Uint8Array).toString()).id);
    expect(frames).toEqual(['m0', 'm1:0', 'm1:1', 'req-1']);
  });

  it('fails the SNS invocation on an infrastructure failure, after trying every record', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { latest: 1, epoch: 'E1' } });
    ddb.on(PutCommand).resolves({});
    ddb
      .on(QueryCommand, { IndexName: 'byUid' })
      .rejectsOnce(Object.assign(new Error('down'), { $metadata: { httpStatusCode: 500 } }))
      .resolves({ Items: [record('live')] });
    api.on(PostToConnectionCommand).resolves({});
    await expect(
      publish(sns('{"to":{"uid":"u1"},"data":1}', '{"to":{"uid":"u1"},"data":2}')),
    ).rejects.toMatchObject({
      code: 'unavailable',
    });
    expect(api.commandCalls(PostToConnectionCommand)).toHaveLength(1);
  });
});

describe('metrics', () => {
  it('writes an EMF line with the publish counters and the fan-out duration', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { latest: 1, epoch: 'E1' } });
    ddb.on(PutCommand).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [] });
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await publish({ to: { uid: 'offline' }, data: 1 });
    } finally {
      spy.mockRestore();
    }
    const emf = lines
      .map((l) => l.trim())
      .filter((l) => l.startsWith('{') && l.includes('"_aws"'))
      .map((l) => JSON.parse(l));
    expect(emf).toHaveLength(1);
    const names = emf[0]._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name);
    expect(names).toEqual(['Publishes', 'Delivered', 'Gone', 'Failed', 'Stored', 'FanOutDuration']);
    expect(emf[0]).toMatchObject({ Publishes: 1, Delivered: 0, Stored: 1 });
  });
});
