/**
 * DynamoDB under the local stack: tables created from the shared definitions, an external
 * DynamoDB through `dynamodbEndpoint`, data kept on disk, and what publishers see when DynamoDB
 * is down. Several stacks run in this one process, which also proves handler modules get a fresh
 * instance (with their own configuration) per stack.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DynamoPublishRecords } from '../../lambdas/adapters/dynamo-publishes';
import { PUBLISHES_TABLE, TABLES } from '../../lambdas/shared/tables';
import { startDynalite } from '../../local/dynalite';
import type { DynamoEndpoint } from '../../local/dynamo';
import type { LocalStack } from '../../local/stack';
import { createTableInput } from '../../local/table-input';
import { closeOpenSockets, connect, documentClient, postJson, startTestStack } from './helpers';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(closeOpenSockets);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function stackWith(options: Parameters<typeof startTestStack>[0]): Promise<LocalStack> {
  const stack = await startTestStack(options);
  cleanups.push(() => stack.stop());
  return stack;
}

function dynamo(endpoint: string): DynamoDBClient {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1' });
  cleanups.push(() => client.destroy());
  return client;
}

describe('tables', () => {
  it('creates every table from the shared definitions, with their keys, indexes and on-demand billing', async () => {
    const stack = await stackWith({});
    const client = dynamo(stack.dynamodbEndpoint);

    for (const definition of TABLES) {
      const expected = createTableInput(definition, definition.id);
      const { Table } = await client.send(
        new DescribeTableCommand({ TableName: stack.tableNames[definition.id] }),
      );
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(Table?.KeySchema).toEqual(expected.KeySchema);
      expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
      expect(
        (Table?.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.KeySchema, i.Projection]),
      ).toEqual((expected.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.KeySchema, i.Projection]));
    }
    expect(stack.tableName).toBe('Connections');
  });

  it('keeps every shard any attempt of a sharded publish planned, so a retry cannot end it early', async () => {
    const stack = await stackWith({});
    const doc = documentClient(stack);
    cleanups.push(() => doc.destroy());
    const records = new DynamoPublishRecords(doc, stack.tableNames[PUBLISHES_TABLE.id] as string);
    const now = Date.now();
    expect(await records.planned('retried')).toEqual([]);
    expect(await records.create('retried', [0, 1, 2], now)).toEqual([0, 1, 2]);
    expect(await records.planned('retried')).toEqual([0, 1, 2]);
    for (const shard of [0, 1, 2]) await records.finish('retried', shard);
    expect(await records.status('retried')).toMatchObject({ status: 'done', shards: 3, shardsDone: 3 });

    // The retry (same id) found shard 2 empty and shard 3 not: four shards were planned in all.
    // It answers the whole plan, so the retry queues shard 2 again too.
    expect(await records.create('retried', [0, 1, 3], now + 1000)).toEqual([0, 1, 2, 3]);
    expect(await records.planned('retried')).toEqual([0, 1, 2, 3]);
    expect(await records.status('retried')).toMatchObject({ status: 'queued', shards: 4, shardsDone: 3 });
    await records.finish('retried', 3);
    expect(await records.status('retried')).toMatchObject({ status: 'done', shards: 4, shardsDone: 4 });
  });

  it('uses physical table names given by id', async () => {
    const stack = await stackWith({ tableNames: { Connections: 'dev-connections' } });
    const client = dynamo(stack.dynamodbEndpoint);

    const { TableNames } = await client.send(new ListTablesCommand({}));

    expect(stack.tableName).toBe('dev-connections');
    expect(TableNames).toContain('dev-connections');
    const socket = await connect(stack, 'named-table');
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await socket.close();
  });
});

describe('an external DynamoDB', () => {
  let external: DynamoEndpoint;

  it('creates the missing tables there and runs the handlers against it', async () => {
    external = await startDynalite();
    cleanups.push(() => external.stop());
    const stack = await stackWith({ dynamodbEndpoint: external.endpoint });

    const { TableNames } = await dynamo(external.endpoint).send(new ListTablesCommand({}));

    expect(stack.dynamodbEndpoint).toBe(external.endpoint);
    expect(TableNames).toEqual(expect.arrayContaining(TABLES.map((t) => t.id)));
    const socket = await connect(stack, 'external-db');
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await socket.close();
  });

  it('runs on a DynamoDB that keeps one database per access key id, as DynamoDB Local does', async () => {
    // DynamoDB Local without -sharedDb: each access key id gets a database of its own. The stack
    // creates the tables with its key; every function must reach that database, not an empty one.
    const databases = new Map<string, Promise<DynamoEndpoint>>();
    const perKey = createServer(async (req, res) => {
      const key = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (!databases.has(key)) databases.set(key, startDynalite());
      const { endpoint } = (await databases.get(key)) as DynamoEndpoint;
      const options = { method: req.method, path: req.url, headers: req.headers };
      const forwarded = request(endpoint, options, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(forwarded);
    });
    await new Promise<void>((resolve) => perKey.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      await new Promise<void>((resolve) => perKey.close(() => resolve()));
      for (const database of databases.values()) await (await database).stop();
    });
    const stack = await stackWith({
      dynamodbEndpoint: `http://127.0.0.1:${(perKey.address() as AddressInfo).port}`,
    });

    const socket = await connect(stack, 'per-key-db');
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    const res = await postJson(stack, '/publish', { to: { uid: 'per-key-db' }, data: 1 });
    expect(res).toMatchObject({ status: 200, body: { connections: 1, delivered: 1 } });
    await socket.close();
    expect([...databases.keys()]).toEqual(['local']);
  });

  it('answers POST /publish with 503 and a stable code, and Invoke with a function error, when DynamoDB is down', async () => {
    const down = await startDynalite();
    const stack = await stackWith({ dynamodbEndpoint: down.endpoint });
    await down.stop();

    const res = await postJson(stack, '/publish', { to: { uid: 'nobody' }, data: 1 });

    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      error: { code: 'unavailable', message: expect.stringContaining('DynamoDB') },
    });
    const lambda = new LambdaClient({ endpoint: stack.httpUrl });
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'publish',
        Payload: JSON.stringify({ to: { uid: 'nobody' }, data: 1 }),
      }),
    );
    lambda.destroy();
    expect(out.FunctionError).toBe('Unhandled');
  });
});

describe('data on disk', () => {
  it('keeps items in the data directory across restarts and leaves existing tables alone', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'push-local-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const item = { pk: 'kept', sk: 'conn', uid: 'disk' };

    const first = await startTestStack({ dataDir });
    const doc = documentClient(first);
    await doc.send(new PutCommand({ TableName: first.tableName, Item: item }));
    doc.destroy();
    await first.stop();

    const second = await stackWith({ dataDir });
    const reread = documentClient(second);
    const out = await reread.send(
      new GetCommand({ TableName: second.tableName, Key: { pk: 'kept', sk: 'conn' } }),
    );
    reread.destroy();

    expect(out.Item).toEqual(item);
  });
});
