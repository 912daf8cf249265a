/**
 * schemaDifferences: a table kept from an earlier run (a `--data` directory, a shared DynamoDB
 * Local) must have the key and indexes the stack would create, or the stack refuses to start.
 */
import type { TableDescription } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { CONNECTIONS_TABLE, MESSAGES_TABLE } from '../../lambdas/shared/tables';
import { createTableInput, schemaDifferences, schemaError } from '../../local/table-input';

const connections = createTableInput(CONNECTIONS_TABLE, 'Connections');
const messages = createTableInput(MESSAGES_TABLE, 'Messages');

/** What DescribeTable answers for a table made from `input` (the fields compared). */
function described(input: typeof connections, change: (table: TableDescription) => void = () => {}) {
  const table: TableDescription = structuredClone({
    TableName: input.TableName,
    TableStatus: 'ACTIVE',
    KeySchema: input.KeySchema,
    AttributeDefinitions: input.AttributeDefinitions,
    GlobalSecondaryIndexes: input.GlobalSecondaryIndexes?.map((index) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
      IndexStatus: 'ACTIVE',
    })),
  });
  change(table);
  return table;
}

describe('schemaDifferences', () => {
  it.each([
    ['the table made from the same input', connections, described(connections), []],
    ['a table without indexes, as the stack makes it', messages, described(messages), []],
    [
      'an index the stack does not use, and attributes it does not key',
      connections,
      described(connections, (table) => {
        table.GlobalSecondaryIndexes?.push({
          IndexName: 'byOther',
          KeySchema: [{ AttributeName: 'other', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        });
        table.AttributeDefinitions?.push({ AttributeName: 'other', AttributeType: 'S' });
      }),
      [],
    ],
    [
      'a key of another attribute',
      messages,
      described(messages, (table) => {
        table.KeySchema = [{ AttributeName: 'id', KeyType: 'HASH' }];
        table.AttributeDefinitions = [{ AttributeName: 'id', AttributeType: 'S' }];
      }),
      ["its key is id (S) HASH, the stack's is stream (S) HASH, seq (N) RANGE"],
    ],
    [
      'a sort key of another type',
      messages,
      described(messages, (table) => {
        table.AttributeDefinitions = [
          { AttributeName: 'stream', AttributeType: 'S' },
          { AttributeName: 'seq', AttributeType: 'S' },
        ];
      }),
      ["its key is stream (S) HASH, seq (S) RANGE, the stack's is stream (S) HASH, seq (N) RANGE"],
    ],
    [
      'an index missing (a table made before the index was added)',
      connections,
      described(connections, (table) => {
        table.GlobalSecondaryIndexes = table.GlobalSecondaryIndexes?.filter(
          (index) => index.IndexName !== 'byShard',
        );
      }),
      ['index byShard is missing'],
    ],
    [
      'no indexes at all',
      connections,
      described(connections, (table) => {
        delete table.GlobalSecondaryIndexes;
      }),
      ['index byUid is missing', 'index byTopic is missing', 'index byShard is missing'],
    ],
    [
      'an index keyed otherwise, and one projecting only keys',
      connections,
      described(connections, (table) => {
        const [byUid, byTopic] = table.GlobalSecondaryIndexes ?? [];
        if (byUid === undefined || byTopic === undefined) throw new Error('no indexes');
        byUid.KeySchema = [{ AttributeName: 'sk', KeyType: 'HASH' }];
        byTopic.Projection = { ProjectionType: 'KEYS_ONLY' };
      }),
      [
        "index byUid is keyed sk (S) HASH, the stack's by uid (S) HASH",
        "index byTopic projects KEYS_ONLY, the stack's ALL",
      ],
    ],
  ])('%s', (_, input, table, differences) => {
    expect(schemaDifferences(input, table)).toEqual(differences);
  });

  it('says which table, each difference, and what to do', () => {
    expect(schemaError('Connections', ['index byShard is missing', 'index byUid is missing']).message).toBe(
      'table Connections exists but is not the table this stack needs: index byShard is missing; ' +
        'index byUid is missing. Delete it, or give the stack other tables (another --data directory, ' +
        'other PUSH_*_TABLE names), and it makes them anew',
    );
  });
});
