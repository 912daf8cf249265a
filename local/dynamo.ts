/**
 * DynamoDB for the local stack: dynalite in-process (in memory, or on disk with `--data DIR`), or
 * any DynamoDB at `DYNAMODB_ENDPOINT`. Tables are created from the same {@link TABLES} definitions
 * the CDK stack uses, so the two can never drift.
 */
import { mkdirSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { KeyDefinition, TableDefinition } from '../lambdas/shared/tables';
import { type DynaliteDb, fixIndexKeys, lastOpenedStore, rebuildIndexes } from './dynalite-index';
import { listenOnFreePort } from './http-util';
import type { Logger } from './logger';

/** A running DynamoDB the stack talks to. */
export interface DynamoEndpoint {
  readonly endpoint: string;
  /** Human description for the startup banner. */
  readonly description: string;
  /** True when the stack started it (and `stop` shuts it down). */
  readonly embedded: boolean;
  stop(): Promise<void>;
}

/**
 * The request listener of each dynalite this process started, by endpoint, so a local server in
 * front of it (the IAM gate) can hand it requests in-process instead of over a second loopback
 * HTTP hop on every call.
 */
const inProcess = new Map<string, RequestListener>();

/** dynalite's request listener when `endpoint` is a dynalite started in this process. */
export function inProcessDynamo(endpoint: string): RequestListener | undefined {
  return inProcess.get(endpoint);
}

/** Options for {@link startDynalite}. */
export interface DynaliteOptions {
  /** LevelDB directory; created if missing. @default in memory */
  readonly dataDir?: string;
  /** @default '127.0.0.1' (dynalite's CLI would bind every interface) */
  readonly host?: string;
}

type Dynalite = typeof import('dynalite').default;
let loaded: { dynalite: Dynalite; db: DynaliteDb } | undefined;

/**
 * Loads dynalite with its index entries keyed so that none can replace another (dynalite-index.ts),
 * and with two fixes to how it keeps an in-memory table, both about memory that grew with every
 * connection the stack held; its answers are unchanged.
 *
 * - dynalite reads Query and Scan results through a stream over a level iterator and ends it by
 *   calling the iterator's `return()`, which abstract-level's iterators lack (they have `close()`).
 *   Every Query and Scan left its iterator open, pinning the store's snapshot of that moment in
 *   the database's open resources for good: one per `$connect` (its byUid Query for the
 *   connection cap) and per uid push. Iterators get the `return()` dynalite calls.
 * - memory-level stores keys and values as Buffers by default, encoded from strings with
 *   `Buffer.from`, which slices Node's shared 8 KiB pool. A record written between other
 *   allocations (a `$connect` in the middle of its handshake) kept a whole slab alive for its few
 *   hundred bytes. They are kept as the strings dynalite builds instead (`utf8`), the smallest
 *   form. Keys then compare as JavaScript strings (UTF-16 code units) rather than UTF-8 bytes:
 *   the two orders differ only between characters past U+FFFF and U+E000–U+FFFF, which no key of
 *   this stack holds (its ids, uids and topics are ASCII by protocol.ts's ID_PATTERN).
 *
 * Resolved through dynalite's own dependencies, so the copies dynalite uses are the ones fixed;
 * memory-level is replaced before dynalite first reads it.
 */
function loadDynalite(): NonNullable<typeof loaded> {
  if (loaded !== undefined) return loaded;
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const memoryLevel = fromDynalite('memory-level') as { MemoryLevel: new (options?: object) => object };
  const fromMemoryLevel = createRequire(fromDynalite.resolve('memory-level'));
  const { AbstractIterator } = fromMemoryLevel('abstract-level') as {
    AbstractIterator: { prototype: object };
  };
  // The base class every iterator kind (entries, keys, values) extends.
  const common = Object.getPrototypeOf(AbstractIterator.prototype) as {
    return?: () => Promise<void>;
    close(): Promise<void>;
  };
  common.return ??= function (this: { close(): Promise<void> }) {
    return this.close();
  };
  const { MemoryLevel } = memoryLevel;
  memoryLevel.MemoryLevel = class extends MemoryLevel {
    constructor(options?: object) {
      super({ storeEncoding: 'utf8', ...options });
    }
  };
  const db = fromDynalite('./db/index.js') as DynaliteDb;
  fixIndexKeys(db);
  loaded = { dynalite: fromDynalite('./index.js') as Dynalite, db };
  return loaded;
}

/**
 * Starts dynalite in this process on a random loopback port. Table state changes are instant
 * (`createTableMs: 0`), so startup never waits for CREATING → ACTIVE.
 */
export async function startDynalite(options: DynaliteOptions = {}): Promise<DynamoEndpoint> {
  const host = options.host ?? '127.0.0.1';
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
  const { dynalite, db } = loadDynalite();
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.dataDir === undefined ? {} : { path: options.dataDir }),
  });
  const store = lastOpenedStore(db);
  // Entries an earlier version filed under dynalite's own short keys would be found twice or not
  // at all; a store in memory starts empty.
  if (options.dataDir !== undefined && store !== undefined) {
    try {
      await rebuildIndexes(db, store);
    } catch (error) {
      // Release the directory's lock, so that a retry in this process can open it again.
      await new Promise<void>((resolve) => store.db.close(() => resolve()));
      throw error;
    }
  }
  const port = await listenOnFreePort(server, host);
  const endpoint = `http://${host}:${port}`;
  inProcess.set(endpoint, server.listeners('request')[0] as RequestListener);
  return {
    endpoint,
    description:
      options.dataDir === undefined ? 'dynalite, in memory' : `dynalite, on disk in ${options.dataDir}`,
    embedded: true,
    stop: () =>
      new Promise<void>((resolve) => {
        inProcess.delete(endpoint);
        // dynalite's close waits for its LevelDB to flush; SDK keep-alive sockets must not hold it up.
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The access key id of every call that reaches a DynamoDB on this machine: the stack's own (tables,
 * TTL) and, stamped by the IAM gate (local/iam/dynamo-gate.ts), each function's, which signs with
 * a key of its own. DynamoDB Local keeps one database per access key id unless started with
 * `-sharedDb`, so the functions would otherwise each find an empty database.
 */
export const LOCAL_DYNAMO_ACCESS_KEY_ID = 'local';

/** An external DynamoDB (DynamoDB Local, a real table): the stack neither starts nor stops it. */
export function externalDynamo(endpoint: string): DynamoEndpoint {
  return { endpoint, description: 'external, from DYNAMODB_ENDPOINT', embedded: false, stop: async () => {} };
}

function attributeDefinitions(
  definition: TableDefinition,
): { AttributeName: string; AttributeType: 'S' | 'N' }[] {
  const keys: KeyDefinition[] = [definition.partitionKey];
  if (definition.sortKey !== undefined) keys.push(definition.sortKey);
  for (const index of definition.indexes) {
    keys.push(index.partitionKey);
    if (index.sortKey !== undefined) keys.push(index.sortKey);
  }
  const byName = new Map<string, 'S' | 'N'>();
  for (const key of keys) {
    const seen = byName.get(key.name);
    if (seen !== undefined && seen !== key.type) {
      throw new Error(
        `attribute ${key.name} of table ${definition.id} is declared both ${seen} and ${key.type}`,
      );
    }
    byName.set(key.name, key.type);
  }
  return [...byName].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

function keySchema(partitionKey: KeyDefinition, sortKey?: KeyDefinition) {
  return [
    { AttributeName: partitionKey.name, KeyType: 'HASH' as const },
    ...(sortKey === undefined ? [] : [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }]),
  ];
}

/**
 * The `CreateTable` input for a shared table definition: on-demand billing and all-attribute
 * GSIs, as the CDK stack declares them.
 */
export function createTableInput(definition: TableDefinition, tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributeDefinitions(definition),
    KeySchema: keySchema(definition.partitionKey, definition.sortKey),
    ...(definition.indexes.length === 0
      ? {}
      : {
          GlobalSecondaryIndexes: definition.indexes.map((index) => ({
            IndexName: index.name,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorName(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}

async function tableStatus(client: DynamoDBClient, tableName: string): Promise<string | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return out.Table?.TableStatus;
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/** Waits for ACTIVE: instant on dynalite, up to a minute on real DynamoDB. */
async function waitUntilActive(
  client: DynamoDBClient,
  tableName: string,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 2_000)) {
    if ((await tableStatus(client, tableName)) === 'ACTIVE') return;
    if (Date.now() > deadline)
      throw new Error(`table ${tableName} did not become ACTIVE within ${timeoutMs} ms`);
    await sleep(delay);
  }
}

/**
 * Turns TTL on. dynalite has no `UpdateTimeToLive` (it answers UnknownOperationException) and
 * never expires items; that is fine because every read already filters expired records itself
 * (real DynamoDB deletes them late too), so a missing TTL is logged, not fatal.
 */
async function enableTtl(client: DynamoDBClient, tableName: string, attribute: string, logger: Logger) {
  try {
    const out = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const status = out.TimeToLiveDescription?.TimeToLiveStatus;
    if (status === 'ENABLED' || status === 'ENABLING') return;
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: attribute },
      }),
    );
  } catch (error) {
    if (errorName(error) === 'UnknownOperationException') {
      logger.debug('this DynamoDB has no TTL; expired records are filtered on read', { table: tableName });
      return;
    }
    logger.warn('could not enable TTL; expired records are still filtered on read', {
      table: tableName,
      error: errorName(error) ?? String(error),
    });
  }
}

/**
 * Creates every table that is missing (an on-disk dynalite or a shared DynamoDB Local keeps them
 * between runs) and enables TTL where declared. Tables that exist are left as they are.
 */
export async function ensureTables(
  client: DynamoDBClient,
  tables: readonly { definition: TableDefinition; tableName: string }[],
  logger: Logger,
): Promise<void> {
  await Promise.all(
    tables.map(async ({ definition, tableName }) => {
      const status = await tableStatus(client, tableName);
      if (status === undefined) {
        try {
          await client.send(new CreateTableCommand(createTableInput(definition, tableName)));
          logger.debug('table created', { table: tableName });
        } catch (error) {
          // Another process (a second stack on the same DynamoDB Local) may have won the race.
          if (errorName(error) !== 'ResourceInUseException') throw error;
        }
      }
      if (status !== 'ACTIVE') await waitUntilActive(client, tableName);
      if (definition.ttlAttribute !== undefined) {
        await enableTtl(client, tableName, definition.ttlAttribute, logger);
      }
    }),
  );
}
