import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CallerIdentity } from '../../local/iam/denials';
import { callFields, type DynamoGate, readsKeysOf, startDynamoGate } from '../../local/iam/dynamo-gate';
import { enforcerFromPolicy, gatePolicyOf } from '../../local/iam/gate-policy';
import type { PolicyStatement } from '../../local/iam/policy';
import { dynamoDbRequests } from '../../local/iam/requests';
import { silentLogger } from '../../local/logger';

describe('the table and index names the DynamoDB gate reads from a call', () => {
  it.each([
    ['PutItem', '{"TableName":"Connections","Item":{"pk":{"S":"a"}}}', { TableName: 'Connections' }],
    [
      'Query',
      '{"IndexName":"byUid","KeyConditionExpression":"#u = :u","TableName":"Connections"}',
      { TableName: 'Connections', IndexName: 'byUid' },
    ],
    // An attribute named TableName holds an object; a string holding it is escaped.
    [
      'PutItem',
      '{"Item":{"TableName":{"S":"\\"TableName\\":\\"Other\\""}},"TableName":"Messages"}',
      { TableName: 'Messages' },
    ],
    ['ListTables', '{}', {}],
    [
      'BatchWriteItem',
      '{"RequestItems":{"Connections":[],"Messages":[]}}',
      { RequestItems: { Connections: [], Messages: [] } },
    ],
    ['BatchWriteItem', 'not json', {}],
  ])('%s %s', (operation, body, expected) => {
    expect(callFields(operation, body)).toEqual(expected);
  });
});

describe('the whole body, for a caller whose policies condition on partition keys', () => {
  it('parses every call whole, keys and items included', () => {
    expect(
      callFields('GetItem', '{"TableName":"Connections","Key":{"pk":{"S":"revoked#u1"}}}', true),
    ).toEqual({
      TableName: 'Connections',
      Key: { pk: { S: 'revoked#u1' } },
    });
  });

  it('gives nothing for a body that is not JSON, which DynamoDB answers itself', () => {
    expect(callFields('GetItem', 'not json', true)).toEqual({});
  });
});

describe('which callers the gate reads the keys of', () => {
  const statement = (Condition?: PolicyStatement['Condition']): PolicyStatement => ({
    Effect: 'Allow',
    Action: ['dynamodb:GetItem'],
    Resource: ['*'],
    ...(Condition === undefined ? {} : { Condition }),
  });
  const caller = (...statements: PolicyStatement[]): CallerIdentity => ({
    arn: 'arn:aws:sts::000000000000:assumed-role/R/F',
    policies: [{ name: 'P', statements }],
  });

  it.each([
    ['no condition', caller(statement()), false],
    [
      'a condition on another key',
      caller(statement({ StringEquals: { 'kms:ViaService': ['dynamodb.us-east-1.amazonaws.com'] } })),
      false,
    ],
    [
      'ForAllValues on dynamodb:LeadingKeys',
      caller(
        statement(),
        statement({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['revoked#*'] } }),
      ),
      true,
    ],
    // Condition key names are case-insensitive in IAM.
    [
      'a Null check, spelled in another case',
      caller(statement({ Null: { 'DynamoDB:leadingKeys': ['false'] } })),
      true,
    ],
  ])('%s: %s', (_what, who, expected) => {
    expect(readsKeysOf(who)).toBe(expected);
  });
});

describe('dynamodb:LeadingKeys as the gate derives it from a call', () => {
  const scope = { region: 'us-east-1', accountId: '000000000000' };
  const KEYS: Record<string, string> = { Connections: 'pk', Messages: 'stream' };
  const partitionKeyOf = (table: string) => KEYS[table];
  const s = (value: string) => ({ S: value });
  const connection = (pk: string) => ({ pk: s(pk), sk: s('conn') });

  it.each<[string, string, Record<string, unknown>, [string, (readonly string[] | undefined)?][]]>([
    [
      'GetItem',
      'its key',
      { TableName: 'Connections', Key: connection('revoked#u1') },
      [['dynamodb:GetItem', ['revoked#u1']]],
    ],
    [
      'PutItem',
      'its item',
      { TableName: 'Connections', Item: { ...connection('c1'), uid: s('u1') } },
      [['dynamodb:PutItem', ['c1']]],
    ],
    [
      'UpdateItem',
      'its key',
      { TableName: 'Connections', Key: connection('c1') },
      [['dynamodb:UpdateItem', ['c1']]],
    ],
    [
      'DeleteItem',
      'its key',
      { TableName: 'Connections', Key: connection('c1') },
      [['dynamodb:DeleteItem', ['c1']]],
    ],
    [
      'GetItem',
      "another table's partition key attribute",
      { TableName: 'Messages', Key: { stream: s('uid#u1'), seq: { N: '0' } } },
      [['dynamodb:GetItem', ['uid#u1']]],
    ],
    [
      'GetItem',
      'a number key as its digits',
      { TableName: 'Messages', Key: { stream: { N: '42' } } },
      [['dynamodb:GetItem', ['42']]],
    ],
    [
      'GetItem',
      'nothing for a key without its partition attribute',
      { TableName: 'Connections', Key: { sk: s('conn') } },
      [['dynamodb:GetItem']],
    ],
    [
      'GetItem',
      'nothing on a table whose key is not known',
      { TableName: 'Other', Key: { pk: s('x') } },
      [['dynamodb:GetItem']],
    ],
    [
      'BatchGetItem',
      'every key of each table, once each',
      {
        RequestItems: {
          Connections: { Keys: [connection('c1'), connection('revoked#u1'), connection('c1')] },
          Messages: { Keys: [{ stream: s('uid#u1'), seq: { N: '1' } }] },
        },
      },
      [
        ['dynamodb:BatchGetItem', ['c1', 'revoked#u1']],
        ['dynamodb:BatchGetItem', ['uid#u1']],
      ],
    ],
    [
      'BatchWriteItem',
      'the items put and the keys deleted',
      {
        RequestItems: {
          Connections: [
            { PutRequest: { Item: connection('c1') } },
            { DeleteRequest: { Key: connection('c2') } },
          ],
        },
      },
      [['dynamodb:BatchWriteItem', ['c1', 'c2']]],
    ],
    [
      'BatchWriteItem',
      'nothing when one key of the table cannot be read',
      {
        RequestItems: {
          Connections: [{ DeleteRequest: { Key: connection('c1') } }, { DeleteRequest: { Key: {} } }],
        },
      },
      [['dynamodb:BatchWriteItem']],
    ],
    [
      'TransactWriteItems',
      "each part's own key",
      {
        TransactItems: [
          { Put: { TableName: 'Connections', Item: connection('c1') } },
          { ConditionCheck: { TableName: 'Messages', Key: { stream: s('uid#u1') } } },
        ],
      },
      [
        ['dynamodb:PutItem', ['c1']],
        ['dynamodb:ConditionCheckItem', ['uid#u1']],
      ],
    ],
    [
      'TransactGetItems',
      "each part's own key",
      { TransactItems: [{ Get: { TableName: 'Connections', Key: connection('revoked#u1') } }] },
      [['dynamodb:GetItem', ['revoked#u1']]],
    ],
    [
      'Query',
      'the value its key condition sets the partition key to, through names and values',
      {
        TableName: 'Connections',
        KeyConditionExpression: '#p = :p AND begins_with(#s, :s)',
        ExpressionAttributeNames: { '#p': 'pk', '#s': 'sk' },
        ExpressionAttributeValues: { ':p': s('c1'), ':s': s('topic#') },
      },
      [['dynamodb:Query', ['c1']]],
    ],
    [
      'Query',
      'the partition equality written either way round, beside a sort key range',
      {
        TableName: 'Connections',
        KeyConditionExpression: 'sk BETWEEN :a AND :b AND :p = pk',
        ExpressionAttributeValues: { ':p': s('c1'), ':a': s('a'), ':b': s('b') },
      },
      [['dynamodb:Query', ['c1']]],
    ],
    [
      'Query',
      'nothing when the sort key is the only equality',
      {
        TableName: 'Connections',
        KeyConditionExpression: 'sk = :s',
        ExpressionAttributeValues: { ':s': s('conn') },
      },
      [['dynamodb:Query']],
    ],
    [
      'Query',
      'the EQ of its legacy KeyConditions',
      {
        TableName: 'Connections',
        KeyConditions: { pk: { ComparisonOperator: 'EQ', AttributeValueList: [s('c1')] } },
      },
      [['dynamodb:Query', ['c1']]],
    ],
    [
      'Query',
      'nothing on an index, whose keys the gate does not read',
      {
        TableName: 'Connections',
        IndexName: 'byUid',
        KeyConditionExpression: '#u = :u',
        ExpressionAttributeNames: { '#u': 'uid' },
        ExpressionAttributeValues: { ':u': s('u1') },
      },
      [['dynamodb:Query']],
    ],
    [
      'Query',
      'the partition equality after a long run of name characters (each run is tried once)',
      {
        TableName: 'Connections',
        KeyConditionExpression: `${'a'.repeat(4_000)} <> :x AND pk = :p`,
        ExpressionAttributeValues: { ':p': s('c1'), ':x': s('x') },
      },
      [['dynamodb:Query', ['c1']]],
    ],
    [
      'Query',
      'nothing from an expression longer than DynamoDB takes (4 KB), however it reads',
      {
        TableName: 'Connections',
        KeyConditionExpression: `pk = :p AND ${'a'.repeat(1 << 20)}`,
        ExpressionAttributeValues: { ':p': s('c1') },
      },
      [['dynamodb:Query']],
    ],
    ['Scan', 'nothing, as AWS sets none', { TableName: 'Connections' }, [['dynamodb:Scan']]],
  ])('%s: %s', (operation, _what, body, expected) => {
    const requests = dynamoDbRequests(scope, operation, body, undefined, partitionKeyOf);
    expect(
      requests.map(({ action, context }) =>
        [action, context?.['dynamodb:LeadingKeys']].filter((x) => x !== undefined),
      ),
    ).toEqual(expected);
  });

  it('derives none without the tables’ partition keys: the fast path’s requests', () => {
    expect(dynamoDbRequests(scope, 'GetItem', { TableName: 'Connections', Key: connection('c1') })).toEqual([
      { action: 'dynamodb:GetItem', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/Connections' },
    ]);
  });
});

describe("the gate policy a gate in dynalite's process is given", () => {
  it('carries each table’s partition key attribute across, as plain data', () => {
    const policy = gatePolicyOf(
      {
        callerFor: () => undefined,
        scope: { region: 'us-east-1', accountId: '000000000000' },
        partitionKeys: (name) => (name === 'Connections' ? 'pk' : undefined),
      },
      ['Connections', 'Unknown'],
    );
    expect(policy.partitionKeys).toEqual([['Connections', 'pk']]);
    const enforcer = enforcerFromPolicy(structuredClone(policy), silentLogger, () => {});
    expect([enforcer.partitionKeys?.('Connections'), enforcer.partitionKeys?.('Unknown')]).toEqual([
      'pk',
      undefined,
    ]);
  });
});

describe('the gate in front of DynamoDB, with one caller held to revocation records', () => {
  const TABLE = 'Connections';
  const allow = (Condition?: PolicyStatement['Condition']): PolicyStatement => ({
    Effect: 'Allow',
    Action: ['dynamodb:GetItem'],
    Resource: [`arn:aws:dynamodb:us-east-1:000000000000:table/${TABLE}`],
    ...(Condition === undefined ? {} : { Condition }),
  });
  const held = allow({
    'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['revoked#*'] },
    Null: { 'dynamodb:LeadingKeys': ['false'] },
  });
  const callers: [string, CallerIdentity][] = [
    [
      'plain',
      {
        arn: 'arn:aws:sts::000000000000:assumed-role/Plain/plain',
        policies: [{ name: 'P', statements: [allow()] }],
      },
    ],
    [
      'held',
      {
        arn: 'arn:aws:sts::000000000000:assumed-role/Held/held',
        policies: [{ name: 'H', statements: [held] }],
      },
    ],
  ];
  let upstream: Server;
  let gate: DynamoGate;

  beforeAll(async () => {
    // DynamoDB behind the gate: answers every call it is given with an empty item.
    upstream = createServer((req, res) => {
      req.resume();
      req.once('end', () => res.end('{}'));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as AddressInfo;
    const enforcer = enforcerFromPolicy(
      {
        scope: { region: 'us-east-1', accountId: '000000000000' },
        callers,
        tableKeys: [],
        partitionKeys: [[TABLE, 'pk']],
      },
      silentLogger,
      () => {},
    );
    gate = await startDynamoGate({ upstream: `http://127.0.0.1:${port}`, enforcer: () => enforcer });
  });

  afterAll(async () => {
    await gate?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** A GetItem through the gate, signed with `key`'s access key id: the status it is answered. */
  const getItem = async (key: string, body: string) => {
    const res = await fetch(gate.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.GetItem',
        authorization: `AWS4-HMAC-SHA256 Credential=${key}/20261205/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body,
    });
    await res.arrayBuffer();
    return res.status;
  };
  const bodyFor = (table: string, pk: string) =>
    JSON.stringify({ TableName: table, Key: { pk: { S: pk }, sk: { S: 'x' } } });

  it('parses the body of the held caller only: the others stay on the fast path', async () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const plain = bodyFor(TABLE, 'conn-1');
      const heldBody = bodyFor(TABLE, 'revoked#u1');
      expect(await getItem('plain', plain)).toBe(200);
      expect(await getItem('held', heldBody)).toBe(200);
      const parsed = parse.mock.calls.map(([text]) => text);
      expect(parsed).not.toContain(plain);
      expect(parsed).toContain(heldBody);
    } finally {
      parse.mockRestore();
    }
  });

  it("refuses the held caller another key, and a forged table name cannot take a real call's decision", async () => {
    expect(await getItem('held', bodyFor(TABLE, 'conn-1'))).toBe(400);
    // A table name that spells out another request's context, with no key the gate can read: its
    // evaluation must not be remembered as the real GetItem of revoked#victim's.
    const forged = JSON.stringify({
      TableName: `${TABLE}\n{"dynamodb:LeadingKeys":["revoked#victim"]}`,
      Key: {},
    });
    expect(await getItem('held', forged)).toBe(400);
    expect(await getItem('held', bodyFor(TABLE, 'revoked#victim'))).toBe(200);
  });
});
