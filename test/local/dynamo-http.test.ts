/**
 * The hot-path DynamoDB client (lambdas/adapters/dynamo-http.ts) against dynalite, beside the SDK's
 * own client: every operation the adapters send answers the same output through both, and a
 * refused condition the same error, so swapping the client changed nothing the adapters read.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoHttpClient } from '../../lambdas/adapters/dynamo-http';
import { ATTR, CONNECTIONS_TABLE, INDEX, SK } from '../../lambdas/shared/tables';
import { startDynalite } from '../../local/dynalite';
import type { DynamoEndpoint } from '../../local/dynamo';
import { createTableInput } from '../../local/table-input';

const TABLE = 'Parity';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

let dynamo: DynamoEndpoint;
let sdk: DynamoDBClient;
let ours: DynamoHttpClient;

beforeAll(async () => {
  dynamo = await startDynalite();
  const settings = { endpoint: dynamo.endpoint, region: 'us-east-1', credentials };
  sdk = new DynamoDBClient(settings);
  ours = new DynamoHttpClient({ settings: new DynamoDBClient(settings), timeoutMs: 5_000 });
  await sdk.send(new CreateTableCommand(createTableInput(CONNECTIONS_TABLE, TABLE)));
});

afterAll(async () => {
  ours?.destroy();
  sdk?.destroy();
  await dynamo?.stop();
});

const record = (id: string, uid: string) => ({
  [ATTR.pk]: { S: id },
  [ATTR.sk]: { S: SK.connection },
  [ATTR.connectionId]: { S: id },
  [ATTR.uid]: { S: uid },
  [ATTR.topics]: { SS: ['a', 'b'] },
  [ATTR.expiresAt]: { N: '4102444800' },
  nested: { M: { list: { L: [{ N: '1' }, { BOOL: true }, { NULL: true }] } } },
});

const strip = (output: object) => {
  const { $metadata: _, ...rest } = output as { $metadata?: unknown };
  return rest;
};

/** Each step runs twice, once through each client, on its own keys, and must answer alike. */
const steps: [
  string,
  (side: string) => { send: (c: DynamoHttpClient | DynamoDBClient) => Promise<object> },
][] = [
  [
    'PutItem',
    (side) => ({
      send: (c) => c.send(new PutItemCommand({ TableName: TABLE, Item: record(`${side}-1`, `${side}-u`) })),
    }),
  ],
  [
    'PutItem returning the old item',
    (side) => ({
      send: (c) =>
        c.send(
          new PutItemCommand({
            TableName: TABLE,
            Item: record(`${side}-1`, `${side}-u`),
            ReturnValues: 'ALL_OLD',
          }),
        ),
    }),
  ],
  [
    'GetItem',
    (side) => ({
      send: (c) =>
        c.send(
          new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `${side}-1` }, sk: { S: SK.connection } } }),
        ),
    }),
  ],
  [
    'GetItem of nothing',
    (side) => ({
      send: (c) =>
        c.send(
          new GetItemCommand({
            TableName: TABLE,
            Key: { pk: { S: `${side}-none` }, sk: { S: SK.connection } },
          }),
        ),
    }),
  ],
  [
    'UpdateItem adding to a counter, answering the new item',
    (side) => ({
      send: (c) =>
        c.send(
          new UpdateItemCommand({
            TableName: TABLE,
            Key: { pk: { S: `${side}-counter` }, sk: { S: 'c' } },
            UpdateExpression: 'ADD #n :one SET #e = if_not_exists(#e, :e)',
            ExpressionAttributeNames: { '#n': 'n', '#e': 'epoch' },
            ExpressionAttributeValues: { ':one': { N: '1' }, ':e': { S: 'ep' } },
            ReturnValues: 'ALL_NEW',
          }),
        ),
    }),
  ],
  [
    'BatchWriteItem',
    (side) => ({
      send: (c) =>
        c.send(
          new BatchWriteItemCommand({
            RequestItems: {
              [TABLE]: [2, 3, 4].map((k) => ({ PutRequest: { Item: record(`${side}-${k}`, `${side}-u`) } })),
            },
          }),
        ),
    }),
  ],
  [
    'Query of an index, projected, stopped at its limit',
    (side) => ({
      send: async (c) => {
        const out = await c.send(
          new QueryCommand({
            TableName: TABLE,
            IndexName: INDEX.byUid,
            KeyConditionExpression: '#u = :u',
            ExpressionAttributeNames: { '#u': ATTR.uid, '#c': ATTR.connectionId, '#t': ATTR.topics },
            ExpressionAttributeValues: { ':u': { S: `${side}-u` } },
            ProjectionExpression: '#c, #t',
            Limit: 4,
          }),
        );
        // An index keeps one partition's items in an order of dynalite's own, which the two sides'
        // keys need not share: compared sorted, and the page's end by its presence.
        const { LastEvaluatedKey, Items, ...rest } = out;
        const sorted = [...(Items ?? [])].sort((a, b) =>
          String(a[ATTR.connectionId]?.S).localeCompare(String(b[ATTR.connectionId]?.S)),
        );
        return { ...rest, Items: sorted, paged: LastEvaluatedKey !== undefined };
      },
    }),
  ],
  [
    'DeleteItem answering the old item',
    (side) => ({
      send: (c) =>
        c.send(
          new DeleteItemCommand({
            TableName: TABLE,
            Key: { pk: { S: `${side}-2` }, sk: { S: SK.connection } },
            ReturnValues: 'ALL_OLD',
          }),
        ),
    }),
  ],
];

/** Renames one side's keys to the other's, so the two answers can be compared whole. */
const sameKeys = (output: object, from: string, to: string) =>
  JSON.parse(JSON.stringify(output).replaceAll(`"${from}-`, `"${to}-`)) as object;

describe('the hot-path DynamoDB client beside the SDK client, on dynalite', () => {
  it.each(steps)('%s answers the same output', async (_, step) => {
    const theirs = strip(await step('sdk').send(sdk));
    const mine = strip(await step('ours').send(ours));
    expect(sameKeys(mine, 'ours', 'sdk')).toEqual(theirs);
  });

  it('refuses a failed condition with the error the SDK client raises', async () => {
    const put = (side: string) =>
      new PutItemCommand({
        TableName: TABLE,
        Item: record(`${side}-1`, `${side}-u`),
        ConditionExpression: 'attribute_not_exists(pk)',
      });
    const theirs = (await sdk.send(put('sdk')).catch((e: unknown) => e)) as Error & { $metadata: object };
    const mine = (await ours.send(put('ours')).catch((e: unknown) => e)) as Error & { $metadata: object };
    expect(mine.name).toBe('ConditionalCheckFailedException');
    expect({
      name: mine.name,
      message: mine.message,
      status: (mine.$metadata as { httpStatusCode: number }).httpStatusCode,
    }).toEqual({
      name: theirs.name,
      message: theirs.message,
      status: (theirs.$metadata as { httpStatusCode: number }).httpStatusCode,
    });
  });

  it('refuses a malformed request as a ValidationException, as the SDK client does', async () => {
    const bad = new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'nonsense ==' });
    const theirs = (await sdk.send(bad).catch((e: unknown) => e)) as Error;
    const mine = (await ours.send(bad).catch((e: unknown) => e)) as Error;
    expect([mine.name, mine.message]).toEqual([theirs.name, theirs.message]);
    expect(mine.name).toBe('ValidationException');
  });
});
