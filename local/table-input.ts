/**
 * The local stack's tables as `CreateTable` inputs, from the same {@link TABLES} definitions the
 * CDK stack deploys, so the two can never drift. No SDK here: dynalite's own process
 * (dynalite-child.ts) creates them too, and loads nothing it does not need.
 */
import type {
  AttributeDefinition,
  CreateTableCommandInput,
  KeySchemaElement,
  TableDescription,
} from '@aws-sdk/client-dynamodb';
import { type KeyDefinition, TABLES, type TableDefinition } from '../lambdas/shared/tables';

/** A table of the stack: its shared definition and the name it has here. */
export interface StackTable {
  readonly definition: TableDefinition;
  readonly tableName: string;
}

/** Every table of the stack, each named by `tableNames` (by table id) or else by its id. */
export function stackTables(tableNames?: Readonly<Record<string, string>>): StackTable[] {
  return TABLES.map((definition) => ({
    definition,
    tableName: tableNames?.[definition.id] ?? definition.id,
  }));
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

/** The `CreateTable` input of each table (for dynalite's process to create them). */
export function tableInputs(tables: readonly StackTable[]): CreateTableCommandInput[] {
  return tables.map(({ definition, tableName }) => createTableInput(definition, tableName));
}

/**
 * The TTL attribute of each table that has one, by the name it has here: what dynalite's process
 * sweeps (`ttlAttributes` of `startDynaliteProcess`), as DynamoDB's TTL deletes on AWS.
 *
 * @example
 * ttlAttributes(stackTables()) // { Connections: 'expiresAt', Messages: 'expiresAt', Publishes: 'expiresAt' }
 */
export function ttlAttributes(tables: readonly StackTable[]): Record<string, string> {
  return Object.fromEntries(
    tables.flatMap(({ definition, tableName }) =>
      definition.ttlAttribute === undefined ? [] : [[tableName, definition.ttlAttribute]],
    ),
  );
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

/** A key schema as one line, with each attribute's type: `uid (S) HASH, seq (N) RANGE`. */
function keyLine(
  keys: readonly KeySchemaElement[] | undefined,
  attributes: readonly AttributeDefinition[] | undefined,
): string {
  const typeOf = (name: string | undefined) =>
    attributes?.find((attribute) => attribute.AttributeName === name)?.AttributeType ?? '?';
  return (keys ?? [])
    .map((key) => `${key.AttributeName} (${typeOf(key.AttributeName)}) ${key.KeyType}`)
    .join(', ');
}

/**
 * How a table that already exists (a `--data` directory or a shared DynamoDB kept it) differs from
 * the one the stack would create from `expected`, one phrase a difference: its key, and each of the
 * stack's indexes (missing, keyed otherwise, or projecting less than every attribute). Empty when
 * the table serves the stack; indexes the stack does not use, and the billing mode, are not compared.
 *
 * @example
 * schemaDifferences(createTableInput(CONNECTIONS_TABLE, 'Connections'), described.Table)
 * // ['index byUid is missing']
 */
export function schemaDifferences(expected: CreateTableCommandInput, found: TableDescription): string[] {
  const differences: string[] = [];
  const want = keyLine(expected.KeySchema, expected.AttributeDefinitions);
  const have = keyLine(found.KeySchema, found.AttributeDefinitions);
  if (want !== have) differences.push(`its key is ${have || 'unknown'}, the stack's is ${want}`);
  for (const index of expected.GlobalSecondaryIndexes ?? []) {
    const existing = found.GlobalSecondaryIndexes?.find((own) => own.IndexName === index.IndexName);
    if (existing === undefined) {
      differences.push(`index ${index.IndexName} is missing`);
      continue;
    }
    const wantIndex = keyLine(index.KeySchema, expected.AttributeDefinitions);
    const haveIndex = keyLine(existing.KeySchema, found.AttributeDefinitions);
    if (wantIndex !== haveIndex)
      differences.push(`index ${index.IndexName} is keyed ${haveIndex}, the stack's by ${wantIndex}`);
    const projection = existing.Projection?.ProjectionType;
    if (projection !== index.Projection?.ProjectionType)
      differences.push(
        `index ${index.IndexName} projects ${projection ?? 'nothing'}, the stack's ${index.Projection?.ProjectionType}`,
      );
  }
  return differences;
}

/**
 * The error for a table that exists but cannot serve the stack (see {@link schemaDifferences}):
 * the stack refuses to start rather than fail its first calls on it.
 */
export function schemaError(tableName: string, differences: readonly string[]): Error {
  return new Error(
    `table ${tableName} exists but is not the table this stack needs: ${differences.join('; ')}. ` +
      'Delete it, or give the stack other tables (another --data directory, other PUSH_*_TABLE names), and it makes them anew',
  );
}
