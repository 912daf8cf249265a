/**
 * DynamoDB for the local stack: dynalite (dynalite.ts; in memory, or on disk with `--data DIR`), or
 * any DynamoDB at `DYNAMODB_ENDPOINT`. Tables are created from the same {@link TABLES} definitions
 * the CDK stack uses, so the two can never drift.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { Logger } from './logger';
import { settleAll } from './settle';
import { createTableInput, type StackTable, schemaDifferences, schemaError } from './table-input';

/** A running DynamoDB the stack talks to. */
export interface DynamoEndpoint {
  readonly endpoint: string;
  /** Human description for the startup banner. */
  readonly description: string;
  /** True when the stack started it (and `stop` shuts it down). */
  readonly embedded: boolean;
  stop(): Promise<void>;
}

/** An external DynamoDB (DynamoDB Local, a real table): the stack neither starts nor stops it. */
export function externalDynamo(endpoint: string): DynamoEndpoint {
  return { endpoint, description: 'external, from DYNAMODB_ENDPOINT', embedded: false, stop: async () => {} };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorName(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}

async function describeTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<TableDescription | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return out.Table ?? {};
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
    if ((await describeTable(client, tableName))?.TableStatus === 'ACTIVE') return;
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
 * between runs) and enables TTL where declared. A table that exists is kept as it is if it has the
 * key and indexes the stack would give it, and fails the start otherwise (schemaDifferences).
 */
export async function ensureTables(
  client: DynamoDBClient,
  tables: readonly StackTable[],
  logger: Logger,
): Promise<void> {
  // Settled, not raced: a table refused for its schema must not answer while another's CreateTable
  // is still in flight, or a caller that stops dynalite on that answer can leave the other table
  // CREATING in a kept store, where no restart ever makes it ACTIVE.
  await settleAll(
    tables.map(async ({ definition, tableName }) => {
      const input = createTableInput(definition, tableName);
      const found = await describeTable(client, tableName);
      if (found === undefined) {
        try {
          await client.send(new CreateTableCommand(input));
          logger.debug('table created', { table: tableName });
        } catch (error) {
          // Another process (a second stack on the same DynamoDB Local) may have won the race.
          if (errorName(error) !== 'ResourceInUseException') throw error;
        }
      }
      if (found !== undefined) {
        const differences = schemaDifferences(input, found);
        if (differences.length > 0) throw schemaError(tableName, differences);
      }
      if (found?.TableStatus !== 'ACTIVE') await waitUntilActive(client, tableName);
      if (definition.ttlAttribute !== undefined) {
        await enableTtl(client, tableName, definition.ttlAttribute, logger);
      }
    }),
  );
}
