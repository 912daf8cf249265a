import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import {
  type Attribute,
  AttributeType,
  Billing,
  type CfnGlobalTable,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { type KeyDefinition, TABLES, type TableDefinition } from '../lambdas/shared/tables';
import { grantKeyThrough } from './key-grants';

/** The DynamoDB actions the adapters in lambdas/adapters issue, and nothing else. */
export type TableAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:Query'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:BatchWriteItem';

/**
 * What one function may do with one table: `actions` on the table itself, and `dynamodb:Query`
 * on each index named in `queries` (the only operation the handlers run on an index). Not CDK's
 * grantReadData and grantWriteData, which add Scan, BatchGetItem, DescribeTable, stream reads and
 * every index.
 */
export interface TableUse {
  readonly actions: readonly TableAction[];
  /** Index names the function queries. @default none */
  readonly queries?: readonly string[];
  /**
   * Patterns (IAM `StringLike`: `*` and `?`) that every partition key value a call names must
   * match, for `actions` on the table itself; `queries` on its indexes are not narrowed (an
   * index is keyed by other attributes). DynamoDB sets `dynamodb:LeadingKeys` on every
   * {@link TableAction}; a Scan, which names no key, is not one.
   * @default any partition key
   */
  readonly leadingKeys?: readonly string[];
}

/**
 * The condition of a grant narrowed to `patterns` of partition key: `ForAllValues`, which the
 * DynamoDB documentation requires for `dynamodb:LeadingKeys` (a batch names several keys, and
 * every one must match), and `Null: false`, since `ForAllValues` also holds for a request that
 * carries no partition key at all, as IAM's documentation of set operators warns.
 *
 * @example
 * leadingKeysCondition(['revoked#*'])
 * // { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['revoked#*'] }, Null: { 'dynamodb:LeadingKeys': 'false' } }
 */
export function leadingKeysCondition(patterns: readonly string[]): Record<string, Record<string, unknown>> {
  if (patterns.length === 0)
    throw new Error('leadingKeys needs at least one pattern: none would allow no call');
  return {
    'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...patterns] },
    Null: { 'dynamodb:LeadingKeys': 'false' },
  };
}

/** Encryption of some tables with a customer-managed key. */
export interface TableEncryption {
  readonly key: IKey;
  /** The tables it encrypts: those holding message bodies. */
  readonly tables: readonly TableDefinition[];
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
  /** Tables encrypted with a customer-managed key. @default every table with DynamoDB's own key */
  readonly encryption?: TableEncryption;
}

function attribute(key: KeyDefinition): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

/**
 * Encrypts `table` with `key`. TableEncryptionV2.customerManagedKey refuses an
 * environment-agnostic stack (it must name each replica's Region), yet the one replica here is
 * the stack's own Region, so the CloudFormation properties are set directly: KMS at the table,
 * the key on the replica.
 */
function encryptWith(table: TableV2, key: IKey): void {
  const resource = table.node.defaultChild as CfnGlobalTable;
  resource.addPropertyOverride('SSESpecification', { SSEEnabled: true, SSEType: 'KMS' });
  resource.addPropertyOverride('Replicas.0.SSESpecification', { KMSMasterKeyId: key.keyArn });
}

/**
 * Every DynamoDB table of the service, built generically from the shared `TableDefinition`s, so
 * that the deployed tables and the local stack's `CreateTable` calls cannot drift apart: keys,
 * GSIs and the TTL attribute all come from lambdas/shared/tables.ts.
 */
export class PushTables extends Construct {
  readonly #tables = new Map<TableDefinition, TableV2>();
  readonly #bound = new Set<TableDefinition>();
  readonly #keys = new Map<TableDefinition, IKey>();

  constructor(scope: Construct, id: string, props: PushTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    for (const def of props.definitions ?? TABLES) {
      const key = props.encryption?.tables.includes(def) ? props.encryption.key : undefined;
      if (key !== undefined) this.#keys.set(def, key);
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
      if (key !== undefined) encryptWith(table, key);
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
   * exactly `use`: the env name and the permission always travel together. With
   * `use.leadingKeys`, the table statement carries {@link leadingKeysCondition}. On a table with a
   * customer-managed key, the function may also decrypt the table key, through DynamoDB only.
   */
  bind(fn: LambdaFunction, def: TableDefinition, use: TableUse): void {
    const table = this.table(def);
    this.#bound.add(def);
    fn.addEnvironment(def.envName, table.tableName);
    Grant.addToPrincipal({
      grantee: fn,
      actions: [...use.actions],
      resourceArns: [table.tableArn],
      ...(use.leadingKeys === undefined ? {} : { conditions: leadingKeysCondition(use.leadingKeys) }),
    });
    const queries = use.queries ?? [];
    for (const index of queries) {
      if (!def.indexes.some((known) => known.name === index)) {
        throw new Error(`table ${def.id} has no index ${index} to grant queries on`);
      }
    }
    if (queries.length > 0) {
      Grant.addToPrincipal({
        grantee: fn,
        actions: ['dynamodb:Query'],
        resourceArns: queries.map((index) => `${table.tableArn}/index/${index}`),
      });
    }
    const key = this.#keys.get(def);
    // DynamoDB decrypts the table key with the caller's permissions on every read and write.
    if (key !== undefined) grantKeyThrough(key, fn, 'dynamodb', ['kms:Decrypt']);
  }
}
