/**
 * The local stack's tables as `CreateTable` inputs, from the same {@link TABLES} definitions the
 * CDK stack deploys, so the two can never drift. No SDK here: dynalite's own process
 * (dynalite-child.ts) creates them too, and loads nothing it does not need.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
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
