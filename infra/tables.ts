import { Annotations, type CfnElement, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type Attribute, AttributeType, Billing, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { type KeyDefinition, TABLES, type TableDefinition } from '../lambdas/shared/tables';

/** What a function may do with a table. */
export type TableAccess = 'read' | 'write' | 'readWrite';

/**
 * The DynamoDB actions behind each kind of access: exactly the operations the adapters in
 * lambdas/adapters issue (a test reads them from the source), not CDK's grantReadData and
 * grantWriteData, which add Scan, BatchGetItem, DescribeTable and stream reads nobody uses.
 */
export const TABLE_ACTIONS = {
  read: ['dynamodb:Query', 'dynamodb:GetItem'],
  write: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
} as const;

function actionsFor(access: TableAccess): string[] {
  if (access === 'read') return [...TABLE_ACTIONS.read];
  if (access === 'write') return [...TABLE_ACTIONS.write];
  return [...TABLE_ACTIONS.read, ...TABLE_ACTIONS.write];
}

/** Properties of {@link PushTables}. */
export interface PushTablesProps {
  /** The tables to create. @default TABLES from lambdas/shared/tables.ts */
  readonly definitions?: readonly TableDefinition[];
  /**
   * What happens to the tables (and their data) when the stack is deleted. Anything but DESTROY
   * also turns on deletion protection.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

function attribute(key: KeyDefinition): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

/**
 * Every DynamoDB table of the service, built generically from the shared `TableDefinition`s, so
 * that the deployed tables and the local stack's `CreateTable` calls cannot drift apart: keys,
 * GSIs and the TTL attribute all come from lambdas/shared/tables.ts.
 */
export class PushTables extends Construct {
  readonly #tables = new Map<TableDefinition, TableV2>();
  readonly #bound = new Set<TableDefinition>();

  constructor(scope: Construct, id: string, props: PushTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    for (const def of props.definitions ?? TABLES) {
      const table = new TableV2(this, def.id, {
        partitionKey: attribute(def.partitionKey),
        sortKey: def.sortKey === undefined ? undefined : attribute(def.sortKey),
        // Push traffic follows users, not a schedule: on-demand never throttles a burst we
        // failed to provision for, and costs nothing while idle.
        billing: Billing.onDemand(),
        timeToLiveAttribute: def.ttlAttribute,
        globalSecondaryIndexes: def.indexes.map((index) => ({
          indexName: index.name,
          partitionKey: attribute(index.partitionKey),
          sortKey: index.sortKey === undefined ? undefined : attribute(index.sortKey),
        })),
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
        removalPolicy,
      });
      this.#tables.set(def, table);
    }
  }

  /** The table built from `def`; throws if `def` was not among the definitions. */
  table(def: TableDefinition): TableV2 {
    const table = this.#tables.get(def);
    if (table === undefined) throw new Error(`no table was defined for ${def.id}`);
    return table;
  }

  /**
   * Warns (at synth, without failing it) about every table no function was bound to: a table
   * added to `TABLES` for new core code needs its handlers wired here too, or they fail at cold
   * start on the missing env variable.
   */
  warnUnbound(): void {
    for (const [def, table] of this.#tables) {
      if (this.#bound.has(def)) continue;
      Annotations.of(table).addWarningV2(
        'push:unboundTable',
        `table ${def.id} is bound to no function: no handler receives ${def.envName} or any permission on it`,
      );
    }
  }

  /** Every table, with the definition it was built from. */
  entries(): [TableDefinition, TableV2][] {
    return [...this.#tables.entries()];
  }

  /**
   * Tells `fn` the table's physical name through the definition's env variable and grants it
   * exactly `access`: the env name and the permission always travel together.
   */
  bind(fn: LambdaFunction, def: TableDefinition, access: TableAccess): void {
    const table = this.table(def);
    this.#bound.add(def);
    fn.addEnvironment(def.envName, table.tableName);
    table.grant(fn, ...actionsFor(access));
    if (def.indexes.length > 0) {
      const logicalId = Stack.of(table).getLogicalId(table.node.defaultChild as CfnElement);
      Validations.of(fn.role ?? fn).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`,
        reason:
          `TableV2.grant adds ${def.id}'s index ARNs as "<table>/index/*": it covers exactly this ` +
          `table's GSIs (${def.indexes.map((index) => index.name).join(', ')}), which the handlers query.`,
      });
    }
  }
}
