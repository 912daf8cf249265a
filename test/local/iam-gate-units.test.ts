import { describe, expect, it } from 'vitest';
import { callFields } from '../../local/iam/dynamo-gate';

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
