import { describe, expect, it } from 'vitest';
import type { CallerIdentity } from '../../local/iam/denials';
import { callFields, readsKeysOf } from '../../local/iam/dynamo-gate';
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
