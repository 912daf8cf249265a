import {
  ApiGatewayManagementApiClient,
  ForbiddenException,
  GetConnectionCommand,
  GoneException,
  LimitExceededException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand as ItemQueryCommand,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoMessageLog } from '../../lambdas/adapters/dynamo-log';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store';
import { ManagementGateway } from '../../lambdas/adapters/management-gateway';
import { secretsManagerKey } from '../../lambdas/adapters/secret';
import { expiresAtFor } from '../../lambdas/core/expiry';
import { LIMITS } from '../../lambdas/shared/limits';

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

/** The attributes an index read asks for: what a delivery needs, not the record's grants and topics. */
const projected = (uidAttr: string) => ({
  '#pc': 'connectionId',
  '#pu': uidAttr,
  '#pt': 'connectedAt',
  '#pe': 'expiresAt',
  '#px': 'tokenExp',
});

describe('DynamoConnectionStore', () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  // The index reads go through a low-level client of their own, as the handlers wire it.
  const raw = mockClient(DynamoDBClient);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const store = new DynamoConnectionStore(doc, 'conns', {
    sleep: async () => {},
    reads: new DynamoDBClient({}),
  });
  const now = 1_700_000_000_000;
  /** A record as the low-level Query returns it. */
  const stored = (fields: Record<string, string | number>) =>
    Object.fromEntries(
      Object.entries(fields).map(([name, value]) => [
        name,
        typeof value === 'number' ? { N: String(value) } : { S: value },
      ]),
    );

  beforeEach(() => {
    ddb.reset();
    raw.reset();
  });

  it('writes the connection record with its shard, expiry and grants', async () => {
    ddb.on(PutCommand).resolves({});
    await store.put({
      connectionId: 'c1',
      uid: 'u1',
      shard: 3,
      connectedAt: now,
      lastSeenAt: now,
      expiresAt: expiresAtFor(now),
      grants: ['orders'],
      sourceIp: '1.2.3.4',
    });
    expect(ddb.commandCalls(PutCommand)[0]?.args[0].input).toEqual({
      TableName: 'conns',
      Item: {
        pk: 'c1',
        sk: 'conn',
        connectionId: 'c1',
        uid: 'u1',
        shard: 3,
        connectedAt: now,
        lastSeenAt: now,
        expiresAt: expiresAtFor(now),
        grants: ['orders'],
        sourceIp: '1.2.3.4',
      },
    });
  });

  it('reads a uid with one Query on the uid index and drops expired records', async () => {
    raw.on(ItemQueryCommand).resolves({
      Items: [
        stored({
          connectionId: 'live',
          uid: 'u1',
          connectedAt: now,
          expiresAt: expiresAtFor(now),
          tokenExp: 99,
        }),
        stored({
          connectionId: 'expired',
          uid: 'u1',
          connectedAt: now - 3 * 3600_000,
          expiresAt: expiresAtFor(now - 3 * 3600_000),
        }),
      ],
    });
    await expect(store.byUid('u1', now)).resolves.toEqual([
      { connectionId: 'live', uid: 'u1', connectedAt: now, tokenExp: 99 },
    ]);
    expect(raw.commandCalls(ItemQueryCommand)).toHaveLength(1);
    expect(raw.commandCalls(ItemQueryCommand)[0]?.args[0].input).toEqual({
      TableName: 'conns',
      IndexName: 'byUid',
      KeyConditionExpression: '#k = :k',
      ExpressionAttributeNames: { '#k': 'uid', ...projected('uid') },
      ExpressionAttributeValues: { ':k': { S: 'u1' } },
      ProjectionExpression: '#pc, #pu, #pt, #pe, #px',
    });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('sends the index reads through the document client when given no client for them', async () => {
    const plain = new DynamoConnectionStore(doc, 'conns');
    ddb.on(ItemQueryCommand).resolves({
      Items: [stored({ connectionId: 'c', uid: 'u1', connectedAt: now, expiresAt: expiresAtFor(now) })],
    });
    await expect(plain.byUid('u1', now)).resolves.toEqual([
      { connectionId: 'c', uid: 'u1', connectedAt: now },
    ]);
    expect(ddb.commandCalls(ItemQueryCommand)[0]?.args[0].input.ExpressionAttributeValues).toEqual({
      ':k': { S: 'u1' },
    });
  });

  it('lists a uid’s live connections with their topics, sorted', async () => {
    raw.on(ItemQueryCommand).resolves({
      Items: [
        {
          ...stored({
            connectionId: 'c1',
            connectedAt: now,
            lastSeenAt: now + 5,
            expiresAt: expiresAtFor(now),
          }),
          topics: { SS: ['b', 'a'] },
        },
        stored({ connectionId: 'c2', connectedAt: now, lastSeenAt: now, expiresAt: expiresAtFor(now) }),
      ],
    });
    await expect(store.connectionsOf('u1', now)).resolves.toEqual([
      { connectionId: 'c1', connectedAt: now, lastSeenAt: now + 5, topics: ['a', 'b'] },
      { connectionId: 'c2', connectedAt: now, lastSeenAt: now, topics: [] },
    ]);
  });

  it('follows LastEvaluatedKey through every page', async () => {
    raw
      .on(ItemQueryCommand)
      .resolvesOnce({
        Items: [
          stored({ connectionId: 'a', subscriber: 'u1', connectedAt: now, expiresAt: expiresAtFor(now) }),
        ],
        LastEvaluatedKey: { pk: { S: 'a' } },
      })
      .resolvesOnce({
        Items: [
          stored({ connectionId: 'b', subscriber: 'u2', connectedAt: now, expiresAt: expiresAtFor(now) }),
        ],
      });
    await expect(store.byTopic('orders', now)).resolves.toEqual([
      { connectionId: 'a', uid: 'u1', connectedAt: now },
      { connectionId: 'b', uid: 'u2', connectedAt: now },
    ]);
    expect(raw.commandCalls(ItemQueryCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual({
      pk: { S: 'a' },
    });
  });

  it.each([
    // maxUids, pages read: a page that brings the uids past maxUids is the last one read.
    [2, 1],
    [3, 2],
    [undefined, 2],
  ])(
    'with maxUids %s, reads %i of two pages of a topic whose first page holds three uids',
    async (maxUids, pages) => {
      const subscription = (connectionId: string, subscriber: string) =>
        stored({ connectionId, subscriber, connectedAt: now, expiresAt: expiresAtFor(now) });
      raw
        .on(ItemQueryCommand)
        .resolvesOnce({
          Items: [
            subscription('a', 'u1'),
            subscription('b', 'u2'),
            subscription('c', 'u3'),
            subscription('d', 'u1'),
          ],
          LastEvaluatedKey: { pk: { S: 'd' } },
        })
        .resolvesOnce({ Items: [subscription('e', 'u4')] });
      const found = await store.byTopic('orders', now, maxUids);
      expect(found.map((t) => t.connectionId)).toEqual(
        ['a', 'b', 'c', 'd', 'e'].slice(0, pages === 1 ? 4 : 5),
      );
      expect(raw.commandCalls(ItemQueryCommand)).toHaveLength(pages);
    },
  );

  it('reads one topic shard with a key condition on the shard', async () => {
    raw.on(ItemQueryCommand).resolves({ Items: [] });
    await store.readShard({ topic: 'orders' }, 5, now, Number.POSITIVE_INFINITY);
    expect(raw.commandCalls(ItemQueryCommand)[0]?.args[0].input).toMatchObject({
      IndexName: 'byTopic',
      KeyConditionExpression: '#k = :k AND #s = :s',
      ExpressionAttributeNames: { '#k': 'topic', '#s': 'topicShard', ...projected('subscriber') },
      ExpressionAttributeValues: { ':k': { S: 'orders' }, ':s': { N: '5' } },
      ProjectionExpression: '#pc, #pu, #pt, #pe, #px',
    });
  });

  it.each([
    [
      'stops at the limit and reports the shard incomplete',
      [
        { items: 3, more: true },
        { items: 2, more: true },
      ],
      5,
      { read: 5, complete: false, limits: [5, 2] },
    ],
    [
      'reads a short shard to its end',
      [{ items: 2, more: false }],
      5,
      { read: 2, complete: true, limits: [5] },
    ],
    [
      'follows pages until the shard ends below the limit',
      [
        { items: 2, more: true },
        { items: 1, more: false },
      ],
      5,
      { read: 3, complete: true, limits: [5, 3] },
    ],
  ])('readShard %s', async (_label, pages, limit, expected) => {
    let n = 0;
    const item = () => {
      n++;
      return stored({ connectionId: `c${n}`, uid: `u${n}`, connectedAt: now, expiresAt: expiresAtFor(now) });
    };
    let query = raw.on(ItemQueryCommand);
    for (const page of pages) {
      const items = Array.from({ length: page.items }, item);
      query = query.resolvesOnce({
        Items: items,
        ...(page.more ? { LastEvaluatedKey: { pk: items.at(-1)?.connectionId ?? { S: '' } } } : {}),
      });
    }
    const read = await store.readShard({ all: true }, 7, now, limit);
    expect({
      read: read.targets.length,
      complete: read.complete,
      limits: raw.commandCalls(ItemQueryCommand).map((c) => c.args[0].input.Limit),
    }).toEqual(expected);
    expect(raw.commandCalls(ItemQueryCommand)[0]?.args[0].input).toMatchObject({
      IndexName: 'byShard',
      ExpressionAttributeNames: { '#k': 'shard', ...projected('uid') },
      ExpressionAttributeValues: { ':k': { N: '7' } },
      ProjectionExpression: '#pc, #pu, #pt, #pe, #px',
    });
  });

  it('reads a whole topic shard without a Limit when the limit is Infinity', async () => {
    raw.on(ItemQueryCommand).resolves({ Items: [] });
    await store.readShard({ topic: 'orders' }, 5, now, Number.POSITIVE_INFINITY);
    expect(raw.commandCalls(ItemQueryCommand)[0]?.args[0].input.Limit).toBeUndefined();
  });

  it('removes a lone connection record with one DeleteItem', async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: 'c1', sk: 'conn' }] });
    ddb.on(DeleteCommand).resolves({});
    await expect(store.remove('c1')).resolves.toBe(1);
    expect(ddb.commandCalls(DeleteCommand)[0]?.args[0].input).toEqual({
      TableName: 'conns',
      Key: { pk: 'c1', sk: 'conn' },
    });
  });

  it('removes every record of a connection in batches and retries unprocessed ones', async () => {
    const items = [
      { pk: 'c1', sk: 'conn' },
      ...Array.from({ length: 30 }, (_, i) => ({ pk: 'c1', sk: `topic#t${i}` })),
    ];
    ddb.on(QueryCommand).resolves({ Items: items });
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { conns: [{ DeleteRequest: { Key: items[0] } }] } })
      .resolves({});
    await expect(store.remove('c1')).resolves.toBe(31);
    const batches = ddb
      .commandCalls(BatchWriteCommand)
      .map((c) => c.args[0].input.RequestItems?.conns?.length);
    expect(batches).toEqual([25, 1, 6]);
  });

  it('touches with a condition so a deleted connection is not resurrected', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }));
    await expect(store.touch('gone', now)).resolves.toBe(false);
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeValues: { ':seen': now, ':exp': expiresAtFor(now) },
    });
  });

  it.each([
    [
      'another replay holds the lease, budget left',
      { replayUntil: now + 5_000, resumeWindow: now - 1_000, resumeCount: 1 },
      'busy',
    ],
    [
      'the other replay ended between the update and the read',
      { resumeWindow: now - 1_000, resumeCount: 1 },
      'busy',
    ],
    ['the window holds its whole budget', { resumeWindow: now - 1_000, resumeCount: 3 }, 'exhausted'],
    [
      'a spent budget of a window that has passed',
      { replayUntil: now + 5_000, resumeWindow: now - 20_000, resumeCount: 3 },
      'busy',
    ],
  ])('tells a refused replay start apart when %s', async (_, item, expected) => {
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }));
    ddb.on(GetCommand).resolves({ Item: item });
    await expect(
      store.beginReplay('c1', 'u1', now, now + 5_000, { perWindow: 3, perUid: 7, windowMs: 10_000 }),
    ).resolves.toBe(expected);
    // Refused for the connection: the uid's count is never touched.
    const keys = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key?.pk);
    expect(keys.every((pk) => pk === 'c1')).toBe(true);
  });

  it("counts a started resume against the uid's current fixed window, which expires with it", async () => {
    ddb.on(UpdateCommand).resolves({});
    const budget = { perWindow: 3, perUid: 7, windowMs: 10_000 };
    await expect(store.beginReplay('c1', 'u1', 1_700_000_012_345, 1_700_000_017_345, budget)).resolves.toBe(
      'started',
    );
    const [lease, count] = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(lease?.Key).toEqual({ pk: 'c1', sk: 'conn' });
    expect(count).toMatchObject({
      Key: { pk: 'resumes#u1', sk: 'window#1700000010000' },
      UpdateExpression: 'ADD #count :one SET #exp = :exp',
      ConditionExpression: 'attribute_not_exists(#count) OR #count < :max',
      ExpressionAttributeValues: { ':one': 1, ':max': 7, ':exp': 1_700_000_020 + LIMITS.expiryMarginSeconds },
    });
  });

  /**
   * The lease taken until 1_700_000_017_345 given back, with the connection's count: a resume
   * refused for the uid (or whose uid count failed) started nothing, and spends none of the
   * connection's own budget.
   */
  const GIVE_BACK = {
    UpdateExpression: 'REMOVE #lease ADD #count :minus',
    ConditionExpression: 'attribute_exists(#pk) AND (#lease = :until)',
    ExpressionAttributeValues: { ':until': 1_700_000_017_345, ':minus': -1 },
  };

  it("gives the lease and the connection's count back when the uid's window holds its whole budget", async () => {
    ddb
      .on(UpdateCommand)
      .resolves({})
      .on(UpdateCommand, { Key: { pk: 'resumes#u1', sk: 'window#1700000010000' } })
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }));
    const budget = { perWindow: 3, perUid: 7, windowMs: 10_000 };
    await expect(store.beginReplay('c1', 'u1', 1_700_000_012_345, 1_700_000_017_345, budget)).resolves.toBe(
      'uidExhausted',
    );
    const calls = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Key?.pk)).toEqual(['c1', 'resumes#u1', 'c1']);
    expect(calls[2]).toMatchObject(GIVE_BACK);
  });

  it("answers uidExhausted when the uid's window is full even if giving the lease back fails", async () => {
    ddb
      .on(UpdateCommand)
      .resolves({})
      .on(UpdateCommand, { Key: { pk: 'resumes#u1', sk: 'window#1700000010000' } })
      .rejects(Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' }))
      .on(UpdateCommand, { UpdateExpression: 'REMOVE #lease ADD #count :minus' })
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', ...meta(400) }));
    const budget = { perWindow: 3, perUid: 7, windowMs: 10_000 };
    // The refusal is the answer (`rate_limited`); the lease lapses at its deadline either way, as
    // it does when the count itself fails.
    await expect(store.beginReplay('c1', 'u1', 1_700_000_012_345, 1_700_000_017_345, budget)).resolves.toBe(
      'uidExhausted',
    );
    const calls = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key?.pk);
    expect(calls).toEqual(['c1', 'resumes#u1', 'c1']);
  });

  it("gives the lease back when the uid's count fails, and passes the failure on", async () => {
    ddb
      .on(UpdateCommand)
      .resolves({})
      .on(UpdateCommand, { Key: { pk: 'resumes#u1', sk: 'window#1700000010000' } })
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', ...meta(400) }));
    const budget = { perWindow: 3, perUid: 7, windowMs: 10_000 };
    await expect(
      store.beginReplay('c1', 'u1', 1_700_000_012_345, 1_700_000_017_345, budget),
    ).rejects.toMatchObject({ code: 'throttled' });
    // Held until the invocation's end otherwise: every resume of the connection till then is `busy`.
    const calls = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Key?.pk)).toEqual(['c1', 'resumes#u1', 'c1']);
    expect(calls[2]).toMatchObject(GIVE_BACK);
  });

  it('translates DynamoDB throttling into a throttled error', async () => {
    raw
      .on(ItemQueryCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', ...meta(400) }));
    await expect(store.byUid('u1', now)).rejects.toMatchObject({ name: 'ThrottledError', code: 'throttled' });
  });

  it('translates a DynamoDB 500 into an unavailable error', async () => {
    ddb
      .on(UpdateCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalServerError', ...meta(500) }));
    await expect(
      store.subscribe(
        { connectionId: 'c', topic: 't', uid: 'u', shard: 0, connectedAt: now, expiresAt: 1 },
        now,
        LIMITS.maxSubscriptions,
      ),
    ).rejects.toMatchObject({
      code: 'unavailable',
    });
  });
});

describe('ManagementGateway', () => {
  const api = mockClient(ApiGatewayManagementApiClient);
  const gateway = new ManagementGateway(
    new ApiGatewayManagementApiClient({ endpoint: 'https://example.com/prod' }),
    {
      timeoutMs: 100,
    },
  );

  beforeEach(() => api.reset());

  it('posts the payload as bytes', async () => {
    api.on(PostToConnectionCommand).resolves({});
    await gateway.send('c1', '{"a":1}');
    const input = api.commandCalls(PostToConnectionCommand)[0]?.args[0].input;
    expect(input?.ConnectionId).toBe('c1');
    expect(Buffer.from(input?.Data as Uint8Array).toString()).toBe('{"a":1}');
  });

  it.each([
    ['GoneException', () => new GoneException({ message: 'gone', ...meta(410) }), 'gone'],
    [
      'LimitExceededException',
      () => new LimitExceededException({ message: 'slow', ...meta(429) }),
      'throttled',
    ],
    [
      'PayloadTooLargeException',
      () => new PayloadTooLargeException({ message: 'big', ...meta(413) }),
      'payload_too_large',
    ],
    ['ForbiddenException', () => new ForbiddenException({ message: 'no', ...meta(403) }), 'forbidden'],
    [
      'a 500',
      () => Object.assign(new Error('x'), { name: 'InternalServerErrorException', ...meta(500) }),
      'unavailable',
    ],
    [
      'a reset socket',
      () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      'unavailable',
    ],
  ])('translates %s by name into %s', async (_label, make, code) => {
    api.on(PostToConnectionCommand).rejects(make());
    await expect(gateway.send('c1', 'x')).rejects.toMatchObject({ code });
  });

  it('bounds a call that hangs with its own timeout', async () => {
    api.on(PostToConnectionCommand).callsFake(() => new Promise(() => {}));
    await expect(gateway.send('c1', 'x')).rejects.toMatchObject({
      code: 'unavailable',
      message: 'Management API call for c1 timed out after 100 ms',
    });
  });

  it('maps GetConnection to connection info', async () => {
    const at = new Date(1_700_000_000_000);
    api
      .on(GetConnectionCommand)
      .resolves({ ConnectedAt: at, LastActiveAt: at, Identity: { SourceIp: '1.1.1.1', UserAgent: 'ua' } });
    await expect(gateway.info('c1')).resolves.toEqual({
      connectedAt: at,
      lastActiveAt: at,
      sourceIp: '1.1.1.1',
      userAgent: 'ua',
    });
  });
});

describe('secretsManagerKey', () => {
  const sm = mockClient(SecretsManagerClient);
  beforeEach(() => sm.reset());

  it('reads the secret once and serves it from cache while warm', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'abc' });
    let clock = 0;
    const key = secretsManagerKey(new SecretsManagerClient({}), 'arn:secret', {
      ttlMs: 1000,
      now: () => clock,
    });
    await expect(key()).resolves.toEqual(new TextEncoder().encode('abc'));
    await key();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    clock = 1500;
    await key();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('fails as unavailable when Secrets Manager does', async () => {
    sm.on(GetSecretValueCommand).rejects(new Error('down'));
    const key = secretsManagerKey(new SecretsManagerClient({}), 'arn:secret');
    await expect(key()).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('DynamoMessageLog', () => {
  const ddb = mockClient(DynamoDBClient);
  const log = new DynamoMessageLog(new DynamoDBClient({}), 'msgs', {
    retentionSeconds: 60,
    maxMessages: 10,
    topicHistory: [],
  });
  beforeEach(() => ddb.reset());

  it('offers every counter update a fresh 72-bit epoch, across draws of its random pool', async () => {
    ddb.on(UpdateItemCommand).resolves({ Attributes: { latest: { N: '1' }, epoch: { S: 'E1' } } });
    // Past two draws of 64: the pool refills without repeating or shortening an epoch.
    for (let i = 0; i < 150; i++) await log.reserve(`uid#u${i}`);
    const offered = ddb
      .commandCalls(UpdateItemCommand)
      .map((call) => call.args[0].input.ExpressionAttributeValues?.[':epoch']?.S);
    expect(offered).toHaveLength(150);
    for (const epoch of offered) expect(epoch).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(new Set(offered).size).toBe(150);
  });

  it('takes the next seq from an atomic counter and trims the message that falls out of the window', async () => {
    ddb.on(UpdateItemCommand).resolves({ Attributes: { latest: { N: '12' }, epoch: { S: 'E1' } } });
    ddb.on(PutItemCommand).resolves({});
    ddb.on(DeleteItemCommand).resolves({});
    const position = await log.reserve('uid#u1');
    expect(position).toEqual({ seq: 12, epoch: 'E1' });
    await log.store('uid#u1', { id: 'p', dataJson: '{"a":1}', ts: 5, ...position }, 1_000);
    expect(ddb.commandCalls(UpdateItemCommand)[0]?.args[0].input).toEqual({
      TableName: 'msgs',
      Key: { stream: { S: 'uid#u1' }, seq: { N: '0' } },
      UpdateExpression: 'SET #epoch = if_not_exists(#epoch, :epoch) ADD #latest :one',
      ExpressionAttributeNames: { '#epoch': 'epoch', '#latest': 'latest' },
      ExpressionAttributeValues: {
        ':one': { N: '1' },
        ':epoch': { S: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/) },
      },
      ReturnValues: 'ALL_NEW',
    });
    expect(ddb.commandCalls(PutItemCommand)[0]?.args[0].input).toEqual({
      TableName: 'msgs',
      Item: {
        stream: { S: 'uid#u1' },
        seq: { N: '12' },
        id: { S: 'p' },
        data: { S: '{"a":1}' },
        ts: { N: '5' },
        expiresAt: { N: '61' },
        epoch: { S: 'E1' },
      },
    });
    expect(ddb.commandCalls(DeleteItemCommand)[0]?.args[0].input).toEqual({
      TableName: 'msgs',
      Key: { stream: { S: 'uid#u1' }, seq: { N: '2' } },
    });
  });

  it('reads the epoch with an update that counts nothing', async () => {
    ddb.on(UpdateItemCommand).resolves({ Attributes: { latest: { N: '3' }, epoch: { S: 'E2' } } });
    await expect(log.epoch('topic#t')).resolves.toBe('E2');
    expect(ddb.commandCalls(UpdateItemCommand)[0]?.args[0].input).toMatchObject({
      UpdateExpression: 'SET #epoch = if_not_exists(#epoch, :epoch)',
      ExpressionAttributeNames: { '#epoch': 'epoch' },
    });
  });

  it('stores a topic message with its topic', async () => {
    ddb.on(PutItemCommand).resolves({});
    await log.store('topic#orders', { seq: 1, id: 'q', dataJson: '2', ts: 7, topic: 'orders' }, 1_000);
    expect(ddb.commandCalls(PutItemCommand)[0]?.args[0].input.Item).toEqual({
      stream: { S: 'topic#orders' },
      seq: { N: '1' },
      id: { S: 'q' },
      data: { S: '2' },
      ts: { N: '7' },
      expiresAt: { N: '61' },
      topic: { S: 'orders' },
    });
    expect(ddb.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });

  it('reads newer messages, skips expired ones and reports the latest seq', async () => {
    ddb.on(GetItemCommand).resolves({ Item: { latest: { N: '4' } } });
    ddb.on(ItemQueryCommand).resolves({
      Items: [
        { seq: { N: '3' }, id: { S: 'a' }, data: { S: '1' }, ts: { N: '1' }, expiresAt: { N: '1' } },
        {
          seq: { N: '4' },
          id: { S: 'b' },
          data: { S: '2' },
          ts: { N: '2' },
          expiresAt: { N: '100' },
          topic: { S: 'orders' },
        },
      ],
    });
    await expect(log.read('uid#u1', 2, 50_000, 100)).resolves.toEqual({
      messages: [{ seq: 4, id: 'b', dataJson: '2', ts: 2, topic: 'orders' }],
      latest: 4,
      expired: true,
    });
  });

  it('reads only messages of the counter’s epoch, and those logged before epochs', async () => {
    ddb.on(GetItemCommand).resolves({ Item: { latest: { N: '2' }, epoch: { S: 'new' } } });
    const message = (seq: number, epoch?: string) => ({
      seq: { N: String(seq) },
      id: { S: 'abc'[seq - 1] as string },
      data: { S: String(seq) },
      ts: { N: String(seq) },
      expiresAt: { N: '100' },
      ...(epoch === undefined ? {} : { epoch: { S: epoch } }),
    });
    ddb.on(ItemQueryCommand).resolves({ Items: [message(1, 'new'), message(2), message(3, 'old')] });
    await expect(log.read('uid#u1', 0, 50_000, 100)).resolves.toEqual({
      messages: [
        { seq: 1, id: 'a', dataJson: '1', ts: 1, epoch: 'new' },
        { seq: 2, id: 'b', dataJson: '2', ts: 2 },
      ],
      latest: 2,
      epoch: 'new',
    });
  });
});
