/**
 * A dynalite killed while a table was CREATING or DELETING leaves that state in its store on disk,
 * and no later process ends it (local/dynalite-transitions.ts). The store is made by a real
 * dynalite, in a process of its own, with its state-change timers long enough to kill it inside
 * them; the local stack's dynalite then opens the same directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTR, INDEX, SK } from '../../lambdas/shared/tables';
import { startDynalite, startDynaliteProcess } from '../../local/dynalite';
import type { Level } from '../../local/dynalite-index';
import { finishTransitions } from '../../local/dynalite-transitions';
import { silentLogger } from '../../local/logger';
import { stackTables, tableInputs } from '../../local/table-input';
import { startTestStack } from './helpers';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const fromHere = createRequire(import.meta.url);
const DYNALITE = fromHere.resolve('dynalite');
const LONG_MS = 600_000;
const [connectionsInput] = tableInputs(stackTables());
if (connectionsInput === undefined) throw new Error('the stack has no tables');

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dynalite-transitions-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function clientFor(endpoint: string): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  cleanups.push(() => client.destroy());
  return client;
}

/**
 * dynalite as published, on `dataDir`, in a process of its own, with the given state-change
 * timers; resolves with its endpoint and a kill that resolves once the process is gone.
 */
async function stockDynalite(
  dataDir: string,
  timers: { createTableMs: number; deleteTableMs: number },
): Promise<{ endpoint: string; kill: () => Promise<void> }> {
  const script = `
    const [path, dynalitePath, options] = process.argv.slice(1);
    const server = require(dynalitePath)({ path, ...JSON.parse(options) });
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;
  const child: ChildProcess = spawn(
    process.execPath,
    ['-e', script, dataDir, DYNALITE, JSON.stringify(timers)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = once(child, 'exit');
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [port] = (await once(lines, 'line')) as [string];
  return {
    endpoint: `http://127.0.0.1:${port}`,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** dynalite answers CreateTable before its timer (0 ms or not) makes the table ACTIVE: waits for it. */
async function untilActive(client: DynamoDBClient, table: string | undefined): Promise<void> {
  for (let polls = 0; ; polls++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (polls > 1000) throw new Error(`table ${table} never became ACTIVE`);
  }
}

const connectionItem = (id: string, uid: string) => ({
  [ATTR.pk]: { S: id },
  [ATTR.sk]: { S: SK.connection },
  [ATTR.uid]: { S: uid },
});

describe('a table state change a killed dynalite left in its store', () => {
  it('ends CREATING as ACTIVE, with its global indexes, and the table then takes writes and index reads', async () => {
    const dataDir = tempDir();
    const stock = await stockDynalite(dataDir, { createTableMs: LONG_MS, deleteTableMs: 0 });
    const before = clientFor(stock.endpoint);
    await before.send(new CreateTableCommand(connectionsInput));
    const left = await before.send(new DescribeTableCommand({ TableName: connectionsInput.TableName }));
    expect(left.Table?.TableStatus).toBe('CREATING');
    await stock.kill();

    const dynamo = await startDynalite({ dataDir });
    cleanups.push(() => dynamo.stop());
    expect(dynamo.finished).toEqual({ activated: [connectionsInput.TableName], deleted: [] });
    const client = clientFor(dynamo.endpoint);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: connectionsInput.TableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexStatus)).toEqual(
      connectionsInput.GlobalSecondaryIndexes?.map(() => 'ACTIVE'),
    );
    expect(Table?.BillingModeSummary?.LastUpdateToPayPerRequestDateTime).toEqual(Table?.CreationDateTime);
    await client.send(
      new PutItemCommand({ TableName: connectionsInput.TableName, Item: connectionItem('c-1', 'u-1') }),
    );
    const found = await client.send(
      new QueryCommand({
        TableName: connectionsInput.TableName,
        IndexName: INDEX.byUid,
        KeyConditionExpression: '#uid = :uid',
        ExpressionAttributeNames: { '#uid': ATTR.uid },
        ExpressionAttributeValues: { ':uid': { S: 'u-1' } },
      }),
    );
    expect(found.Items?.map((item) => item[ATTR.pk]?.S)).toEqual(['c-1']);
  });

  it("lets `npm start`'s dynalite process find the stack's table a killed first start left CREATING", async () => {
    const dataDir = tempDir();
    const stock = await stockDynalite(dataDir, { createTableMs: LONG_MS, deleteTableMs: 0 });
    await clientFor(stock.endpoint).send(new CreateTableCommand(connectionsInput));
    await stock.kill();

    const inputs = tableInputs(stackTables());
    const own = await startDynaliteProcess({ dataDir, tables: inputs });
    cleanups.push(() => own.stop());
    expect(own.tables.found).toEqual([connectionsInput.TableName]);
    expect(own.finished).toEqual({ activated: [connectionsInput.TableName], deleted: [] });
    expect([...own.tables.created].sort()).toEqual(
      inputs
        .map((input) => input.TableName)
        .filter((name) => name !== connectionsInput.TableName)
        .sort(),
    );
  });

  it('finishes DELETING: the table is gone, and one made again under its name starts empty', async () => {
    const dataDir = tempDir();
    const stock = await stockDynalite(dataDir, { createTableMs: 0, deleteTableMs: LONG_MS });
    const before = clientFor(stock.endpoint);
    await before.send(new CreateTableCommand(connectionsInput));
    await untilActive(before, connectionsInput.TableName);
    await before.send(
      new PutItemCommand({ TableName: connectionsInput.TableName, Item: connectionItem('c-1', 'u-1') }),
    );
    const deleting = await before.send(new DeleteTableCommand({ TableName: connectionsInput.TableName }));
    expect(deleting.TableDescription?.TableStatus).toBe('DELETING');
    await stock.kill();

    const dynamo = await startDynalite({ dataDir });
    cleanups.push(() => dynamo.stop());
    expect(dynamo.finished).toEqual({ activated: [], deleted: [connectionsInput.TableName] });
    const client = clientFor(dynamo.endpoint);
    expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    await client.send(new CreateTableCommand(connectionsInput));
    await untilActive(client, connectionsInput.TableName);
    const { Items } = await client.send(new ScanCommand({ TableName: connectionsInput.TableName }));
    expect(Items).toEqual([]);
  });
});

/** A level store as dynalite's root database: keys with its sub-database prefixes, JSON values. */
async function memoryStore(
  entries: Record<string, unknown>,
): Promise<Level & { allKeys(): Promise<string[]> }> {
  const fromDynalite = createRequire(DYNALITE);
  const { MemoryLevel } = fromDynalite('memory-level') as {
    MemoryLevel: new (
      options: object,
    ) => Level & {
      put(key: string, value: unknown): Promise<void>;
      keys(): AsyncIterable<string>;
    };
  };
  const db = new MemoryLevel({ valueEncoding: 'json' });
  for (const [key, value] of Object.entries(entries)) await db.put(key, value);
  return Object.assign(db, {
    allKeys: async () => {
      const keys: string[] = [];
      for await (const key of db.keys()) keys.push(key);
      return keys;
    },
  });
}

it('says so in the stack’s log when a stack opens such a store', async () => {
  const dataDir = tempDir();
  const stock = await stockDynalite(dataDir, { createTableMs: LONG_MS, deleteTableMs: 0 });
  await clientFor(stock.endpoint).send(new CreateTableCommand(connectionsInput));
  await stock.kill();

  const warnings: string[] = [];
  const stack = await startTestStack({
    dataDir,
    logger: {
      ...silentLogger,
      warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`),
    },
  });
  await stack.stop();
  expect(warnings).toContainEqual(
    `table left mid-change by a process that was killed (CREATING or UPDATING): made ACTIVE {"table":"${connectionsInput.TableName}"}`,
  );
});

describe('finishTransitions', () => {
  it.each([
    {
      case: 'DELETING clears the items, index entries and tags a kill left behind, and no other table',
      tables: {
        T: { TableName: 'T', TableStatus: 'DELETING' },
        'T.x': { TableName: 'T.x', TableStatus: 'ACTIVE' },
      },
      rest: [
        'item-T~a',
        'index-global~T~byUid~a',
        'index-local~T~byTime~a',
        'tag-T~k',
        'item-T.x~a',
        'item-Tx~a',
      ],
      keys: ['item-T.x~a', 'item-Tx~a', 'table~T.x'],
      finished: { activated: [], deleted: ['T'] },
    },
    {
      case: 'UPDATING becomes ACTIVE with its indexes, and its items stay',
      tables: {
        T: { TableName: 'T', TableStatus: 'UPDATING', GlobalSecondaryIndexes: [{ IndexStatus: 'UPDATING' }] },
      },
      rest: ['item-T~a'],
      keys: ['item-T~a', 'table~T'],
      finished: { activated: ['T'], deleted: [] },
    },
    {
      case: 'an ACTIVE table is left as it is, and so is a record without a state',
      tables: {
        A: { TableName: 'A', TableStatus: 'ACTIVE', GlobalSecondaryIndexes: [{ IndexStatus: 'ACTIVE' }] },
        B: { TableName: 'B' },
      },
      rest: [],
      keys: ['table~A', 'table~B'],
      finished: { activated: [], deleted: [] },
    },
  ])('$case', async ({ tables, rest, keys, finished }) => {
    const entries: Record<string, unknown> = Object.fromEntries(rest.map((key) => [key, { k: key }]));
    for (const [name, record] of Object.entries(tables)) entries[`table~${name}`] = record;
    const db = await memoryStore(entries);
    expect(await finishTransitions(db)).toEqual(finished);
    expect((await db.allKeys()).sort()).toEqual([...keys].sort());
    for (const name of finished.activated) {
      const record = [];
      for await (const [, value] of db.iterator({ gte: `table~${name}`, lt: `table~${name}\xff` }))
        record.push(value);
      expect(record).toMatchObject([
        { TableStatus: 'ACTIVE', GlobalSecondaryIndexes: [{ IndexStatus: 'ACTIVE' }] },
      ]);
    }
  });
});
