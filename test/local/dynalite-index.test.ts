/**
 * The local stack's dynalite files every index entry under a key of its own
 * (local/dynalite-index.ts): two connections that dynalite 4.0 would have filed in one slot of an
 * index partition are both found, through every write that moves an entry, and a data directory
 * written the old way is refiled when it opens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTR, CONNECTIONS_TABLE, INDEX, SK } from '../../lambdas/shared/tables';
import { startDynalite } from '../../local/dynalite';
import type { DynamoEndpoint } from '../../local/dynamo';
import { createTableInput } from '../../local/table-input';

const TABLE = 'Connections';
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** dynalite's own modules, as dynalite resolves them. */
const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));

/** dynalite's `db` module: `hashPrefix` is the six hex characters it appended to an index entry. */
const dynaliteDb = fromDynalite('./db/index.js') as {
  createKey(item: object, table: object, keySchema?: object): string;
  hashPrefix(hashKey: string, hashType: string, rangeKey: string, rangeType: string): string;
};

/** The slot dynalite 4.0 gave a connection record's entry in an index partition. */
const oldSlot = (pk: string, sk: string) => dynaliteDb.hashPrefix(pk, 'S', sk, 'S');

/** Two connection ids whose table keys share dynalite 4.0's 24-bit index slot. */
function collidingIds(): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; ; i++) {
    const id = `conn-${i}`;
    const slot = oldSlot(id, SK.connection);
    const other = seen.get(slot);
    if (other !== undefined) return [other, id];
    seen.set(slot, id);
  }
}

async function started(dataDir?: string): Promise<{ dynamo: DynamoEndpoint; client: DynamoDBClient }> {
  const dynamo = await startDynalite(dataDir === undefined ? {} : { dataDir });
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  cleanups.push(
    () => dynamo.stop(),
    () => client.destroy(),
  );
  return { dynamo, client };
}

/** Creates the connections table and waits until it is ACTIVE (on disk, dynalite writes it after answering). */
async function createTable(client: DynamoDBClient): Promise<void> {
  await client.send(new CreateTableCommand(createTableInput(CONNECTIONS_TABLE, TABLE)));
  await waitUntilTableExists({ client, minDelay: 1, maxDelay: 1, maxWaitTime: 20 }, { TableName: TABLE });
}

const connection = (id: string, shard: number): Record<string, AttributeValue> => ({
  [ATTR.pk]: { S: id },
  [ATTR.sk]: { S: SK.connection },
  [ATTR.connectionId]: { S: id },
  [ATTR.uid]: { S: 'same-user' },
  [ATTR.shard]: { N: String(shard) },
  [ATTR.connectedAt]: { N: '1' },
  [ATTR.expiresAt]: { N: '4102444800' },
});

/** Every connection id an index Query finds, page by page (`Limit` items a page). */
async function idsIn(client: DynamoDBClient, input: QueryCommandInput, limit?: number): Promise<string[]> {
  const ids: string[] = [];
  let start: Record<string, AttributeValue> | undefined;
  let pages = 0;
  do {
    // A start key that does not move past its entry would page forever.
    if (++pages > 10) throw new Error(`the Query kept paging: ${ids.join(', ')}`);
    const page = await client.send(
      new QueryCommand({
        ...input,
        ...(limit === undefined ? {} : { Limit: limit }),
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) ids.push(String(item[ATTR.connectionId]?.S));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return ids.sort();
}

const byShard = (shard: number): QueryCommandInput => ({
  TableName: TABLE,
  IndexName: INDEX.byShard,
  KeyConditionExpression: '#k = :k',
  ExpressionAttributeNames: { '#k': ATTR.shard },
  ExpressionAttributeValues: { ':k': { N: String(shard) } },
});

const byUid: QueryCommandInput = {
  TableName: TABLE,
  IndexName: INDEX.byUid,
  KeyConditionExpression: '#k = :k',
  ExpressionAttributeNames: { '#k': ATTR.uid },
  ExpressionAttributeValues: { ':k': { S: 'same-user' } },
};

describe('dynalite index entries', () => {
  it('finds both of two connections whose table keys share dynalite 4.0 index slot', async () => {
    const [a, b] = collidingIds();
    const { client } = await started();
    await createTable(client);
    await client.send(new PutItemCommand({ TableName: TABLE, Item: connection(a, 3) }));
    await client.send(new PutItemCommand({ TableName: TABLE, Item: connection(b, 3) }));

    expect(await idsIn(client, byShard(3))).toEqual([a, b].sort());
    expect(await idsIn(client, byUid)).toEqual([a, b].sort());
    // A page boundary between them: the second page starts after the first entry's own key.
    expect(await idsIn(client, byShard(3), 1)).toEqual([a, b].sort());

    // An update that moves one of them to another partition leaves the other where it was.
    await client.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { [ATTR.pk]: { S: a }, [ATTR.sk]: { S: SK.connection } },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': ATTR.shard },
        ExpressionAttributeValues: { ':s': { N: '4' } },
      }),
    );
    expect(await idsIn(client, byShard(3))).toEqual([b]);
    expect(await idsIn(client, byShard(4))).toEqual([a]);

    // A delete takes only its own entry.
    await client.send(
      new DeleteItemCommand({
        TableName: TABLE,
        Key: { [ATTR.pk]: { S: b }, [ATTR.sk]: { S: SK.connection } },
      }),
    );
    expect(await idsIn(client, byShard(3))).toEqual([]);
    expect(await idsIn(client, byUid)).toEqual([a]);
  });

  it('refiles the index entries of a data directory from its items when it opens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dynalite-index-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const [a, b] = collidingIds();
    const first = await started(dir);
    await createTable(first.client);
    await first.client.send(new PutItemCommand({ TableName: TABLE, Item: connection(a, 3) }));
    await first.client.send(new PutItemCommand({ TableName: TABLE, Item: connection(b, 3) }));
    await first.dynamo.stop();

    // What dynalite 4.0 left in such a directory: entries under its short keys, one of them for a
    // connection whose item is gone.
    const { Level } = fromDynalite('level') as {
      Level: new (
        path: string,
        options: object,
      ) => {
        get(key: string): Promise<unknown>;
        put(key: string, value: unknown): Promise<void>;
        close(): Promise<void>;
      };
    };
    const level = new Level(dir, { valueEncoding: 'json' });
    const table = (await level.get(`table~${TABLE}`)) as {
      GlobalSecondaryIndexes: { IndexName: string; KeySchema: object }[];
    };
    const shardIndex = table.GlobalSecondaryIndexes.find((i) => i.IndexName === INDEX.byShard);
    const oldEntry = async (id: string) => {
      const item = connection(id, 3);
      const key = dynaliteDb.createKey(item, table, shardIndex?.KeySchema) + oldSlot(id, SK.connection);
      await level.put(`index-global~${TABLE}~${INDEX.byShard}~${key}`, item);
    };
    await oldEntry(a);
    await oldEntry('conn-gone');
    await level.close();

    const second = await started(dir);
    expect(await idsIn(second.client, byShard(3))).toEqual([a, b].sort());
    expect(await idsIn(second.client, byUid)).toEqual([a, b].sort());
  });
});
