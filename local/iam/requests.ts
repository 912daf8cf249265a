/**
 * What IAM authorizes for each call a local endpoint serves: the action, the resource ARN and the
 * condition context, as AWS derives them. A call on an encrypted resource also needs the KMS
 * action the service performs with the caller's permissions, conditioned on `kms:ViaService`;
 * those come back after the call's own action, and every request in the list must be allowed.
 */
import type { AuthorizationRequest } from './evaluate';

/** The local account and Region every ARN is built in. */
export interface AccountScope {
  readonly region: string;
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
}

function arn(scope: AccountScope, service: string, resource: string): string {
  return `arn:${scope.partition ?? 'aws'}:${service}:${scope.region}:${scope.accountId}:${resource}`;
}

/** What a service does with a customer-managed key while serving the call. */
function viaService(
  scope: AccountScope,
  service: string,
  keyArn: string | undefined,
  actions: readonly string[],
): AuthorizationRequest[] {
  if (keyArn === undefined) return [];
  const context = {
    'kms:ViaService': `${service}.${scope.region}.amazonaws.com`,
    'kms:CallerAccount': scope.accountId,
  };
  return actions.map((action) => ({ action, resource: keyArn, context }));
}

/** The ARN of a table, or of one of its indexes. */
export function tableArn(scope: AccountScope, table: string, index?: string): string {
  return arn(scope, 'dynamodb', `table/${table}${index === undefined ? '' : `/index/${index}`}`);
}

/** Per table name, the ARN of its customer-managed key, when it has one. */
export type KeyLookup = (resourceName: string) => string | undefined;

/** A table's partition key attribute by table name, or undefined for a table not known. */
export type PartitionKeyLookup = (tableName: string) => string | undefined;

/** The condition key DynamoDB sets to the partition key values a call names. */
const LEADING_KEYS = 'dynamodb:LeadingKeys';

const TRANSACT_WRITE_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A field of a parsed body, own properties only (a body is anyone's JSON). */
function field(record: unknown, name: string): unknown {
  return isRecord(record) && Object.hasOwn(record, name) ? record[name] : undefined;
}

/** A key attribute value as IAM compares it: the string of `{ S }`, `{ N }` or `{ B }` (base64). */
function keyValue(value: unknown): string | undefined {
  const found = field(value, 'S') ?? field(value, 'N') ?? field(value, 'B');
  return typeof found === 'string' ? found : undefined;
}

// `name = :value` (either way round) in a key condition; `<=` and `>=` never match, as the
// character before their `=` is not part of a name.
// A match starts only where a name starts, so that a long run of name characters is tried once,
// not from each of its characters.
const EQUALITY = /(?<![#:A-Za-z0-9_.-])([#:]?[A-Za-z0-9_.-]+)\s*=\s*([#:]?[A-Za-z0-9_.-]+)/g;

/** DynamoDB refuses an expression longer than this (4 KB); the gate does not read one. */
const MAX_EXPRESSION_LENGTH = 4_096;

/**
 * The partition key value of a Query on a table: the one equality on `attribute` in its
 * `KeyConditionExpression` (a `#name` through `ExpressionAttributeNames`, the value through
 * `ExpressionAttributeValues`), or its legacy `KeyConditions` EQ; undefined when it cannot be
 * read for certain.
 */
function queryPartitionValue(body: Record<string, unknown>, attribute: string): string | undefined {
  const expression = body.KeyConditionExpression;
  if (typeof expression === 'string' && expression.length > MAX_EXPRESSION_LENGTH) return undefined;
  if (typeof expression !== 'string') {
    const legacy = field(body.KeyConditions, attribute);
    const list = field(legacy, 'AttributeValueList');
    return field(legacy, 'ComparisonOperator') === 'EQ' && Array.isArray(list)
      ? keyValue(list[0])
      : undefined;
  }
  const nameOf = (token: string) =>
    token.startsWith('#') ? field(body.ExpressionAttributeNames, token) : token;
  const found = new Set<string | undefined>();
  for (const [, left = '', right = ''] of expression.matchAll(EQUALITY)) {
    const [name, placeholder] = right.startsWith(':') ? [left, right] : [right, left];
    if (placeholder.startsWith(':') && nameOf(name) === attribute)
      found.add(keyValue(field(body.ExpressionAttributeValues, placeholder)));
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/** The keys (or items, for puts) a batch call names on one table: its `RequestItems` entry. */
function batchKeys(operation: string, entry: unknown): unknown[] {
  if (operation === 'BatchGetItem') {
    const keys = field(entry, 'Keys');
    return Array.isArray(keys) ? keys : [];
  }
  return Array.isArray(entry)
    ? entry.map(
        (write) => field(field(write, 'PutRequest'), 'Item') ?? field(field(write, 'DeleteRequest'), 'Key'),
      )
    : [];
}

/**
 * The authorizations of one DynamoDB call (`operation` as in `X-Amz-Target`, `body` its JSON).
 * A Query or Scan with `IndexName` acts on the index's ARN; batch calls act on each table they
 * name; a transaction needs the item action of each part (IAM has no Transact* actions).
 *
 * Given `partitionKeyOf`, each request also carries `dynamodb:LeadingKeys` as AWS sets it: the
 * partition key value of the item a GetItem, PutItem, UpdateItem or DeleteItem (or a transaction's
 * part) names; those of every key a batch names on that table; for a Query of the table itself,
 * the value its key condition sets the partition key to. It is left out where it cannot be read
 * for certain (a key without its partition attribute, a key condition with no single
 * `pk = :value`) and where AWS sets none (a Scan). A Query of an index carries none here either:
 * a gap of the local gate, which docs/local-fidelity.md names.
 *
 * @example
 * dynamoDbRequests(scope, 'Query', { TableName: 'Connections', IndexName: 'byUid' })
 * // [{ action: 'dynamodb:Query', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/Connections/index/byUid' }]
 * dynamoDbRequests(scope, 'GetItem', { TableName: 'Connections', Key: { pk: { S: 'revoked#u1' } } }, undefined, () => 'pk')
 * // [{ action: 'dynamodb:GetItem', resource: '…:table/Connections', context: { 'dynamodb:LeadingKeys': ['revoked#u1'] } }]
 */
export function dynamoDbRequests(
  scope: AccountScope,
  operation: string,
  body: Record<string, unknown>,
  keyOf: KeyLookup = () => undefined,
  partitionKeyOf?: PartitionKeyLookup,
): AuthorizationRequest[] {
  const requests: AuthorizationRequest[] = [];
  const tables = new Set<string>();
  /** `keys` reads the partition key values the call names on `table`, given its attribute. */
  const add = (
    action: string,
    table: string,
    index?: string,
    keys?: (attribute: string) => readonly (string | undefined)[],
  ) => {
    const attribute = keys === undefined ? undefined : partitionKeyOf?.(table);
    const values = attribute === undefined || keys === undefined ? [] : keys(attribute);
    // One value that cannot be read leaves the whole set unknown: no key at all, not a part of it.
    const known = values.length > 0 && values.every((value) => value !== undefined);
    requests.push({
      action,
      resource: tableArn(scope, table, index),
      ...(known ? { context: { [LEADING_KEYS]: [...new Set(values as string[])] } } : {}),
    });
    tables.add(table);
  };
  if (operation === 'BatchWriteItem' || operation === 'BatchGetItem') {
    for (const [table, entry] of Object.entries((body.RequestItems ?? {}) as Record<string, unknown>)) {
      add(`dynamodb:${operation}`, table, undefined, (attribute) =>
        batchKeys(operation, entry).map((key) => keyValue(field(key, attribute))),
      );
    }
  } else if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const items = Array.isArray(body.TransactItems) ? (body.TransactItems as unknown[]) : [];
    for (const item of items) {
      for (const [kind, part] of Object.entries(isRecord(item) ? item : {})) {
        const action =
          operation === 'TransactGetItems'
            ? 'dynamodb:GetItem'
            : Object.hasOwn(TRANSACT_WRITE_ACTIONS, kind)
              ? TRANSACT_WRITE_ACTIONS[kind]
              : undefined;
        const table = field(part, 'TableName');
        if (action === undefined || typeof table !== 'string') continue;
        add(action, table, undefined, (attribute) => [
          keyValue(field(field(part, kind === 'Put' ? 'Item' : 'Key'), attribute)),
        ]);
      }
    }
  } else if (typeof body.TableName === 'string') {
    const index = typeof body.IndexName === 'string' ? body.IndexName : undefined;
    const keys =
      operation === 'GetItem' || operation === 'UpdateItem' || operation === 'DeleteItem'
        ? (attribute: string) => [keyValue(field(body.Key, attribute))]
        : operation === 'PutItem'
          ? (attribute: string) => [keyValue(field(body.Item, attribute))]
          : operation === 'Query' && index === undefined
            ? (attribute: string) => [queryPartitionValue(body, attribute)]
            : undefined;
    add(`dynamodb:${operation}`, body.TableName, index, keys);
  } else {
    // ListTables and the like name no table.
    requests.push({ action: `dynamodb:${operation}`, resource: '*' });
  }
  // The table key is decrypted with the caller's permissions whenever items are read or written.
  for (const table of tables) requests.push(...viaService(scope, 'dynamodb', keyOf(table), ['kms:Decrypt']));
  return requests;
}

/** The ARN of a queue by name. */
export function queueArn(scope: AccountScope, queueName: string): string {
  return arn(scope, 'sqs', queueName);
}

/** IAM authorizes a batch with its single-message action. */
const SQS_BATCH_ACTIONS: Record<string, string> = {
  SendMessageBatch: 'SendMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
};

/**
 * The authorizations of one SQS call. With SSE-KMS, a producer needs `kms:GenerateDataKey` and
 * `kms:Decrypt` and a consumer `kms:Decrypt`, as the SQS documentation states.
 *
 * @example
 * sqsRequests(scope, 'SendMessageBatch', 'push-shard-jobs') // [{ action: 'sqs:SendMessage', ... }]
 */
export function sqsRequests(
  scope: AccountScope,
  operation: string,
  queueName: string,
  keyArn?: string,
): AuthorizationRequest[] {
  const action =
    (Object.hasOwn(SQS_BATCH_ACTIONS, operation) ? SQS_BATCH_ACTIONS[operation] : undefined) ?? operation;
  const kms =
    action === 'SendMessage'
      ? ['kms:GenerateDataKey', 'kms:Decrypt']
      : action === 'ReceiveMessage'
        ? ['kms:Decrypt']
        : [];
  return [
    { action: `sqs:${action}`, resource: queueArn(scope, queueName) },
    ...viaService(scope, 'sqs', keyArn, kms),
  ];
}

/**
 * The authorizations of one SNS call on a topic. Publishing to an encrypted topic needs
 * `kms:GenerateDataKey` and `kms:Decrypt`, as the SNS documentation states.
 */
export function snsRequests(
  scope: AccountScope,
  operation: string,
  topicArn: string,
  keyArn?: string,
): AuthorizationRequest[] {
  const action = operation === 'PublishBatch' ? 'Publish' : operation;
  return [
    { action: `sns:${action}`, resource: topicArn },
    ...viaService(scope, 'sns', action === 'Publish' ? keyArn : undefined, [
      'kms:GenerateDataKey',
      'kms:Decrypt',
    ]),
  ];
}

/** Secrets Manager actions that act on no secret. */
const SECRETLESS = new Set(['GetRandomPassword', 'ListSecrets', 'BatchGetSecretValue']);

/** The authorizations of one Secrets Manager call on the secret `secretArn`. */
export function secretsManagerRequests(
  operation: string,
  secretArn: string | undefined,
  keyArn?: string,
  scope?: AccountScope,
): AuthorizationRequest[] {
  const resource = SECRETLESS.has(operation) || secretArn === undefined ? '*' : secretArn;
  const kms =
    operation === 'GetSecretValue'
      ? ['kms:Decrypt']
      : operation === 'PutSecretValue'
        ? ['kms:GenerateDataKey']
        : [];
  return [
    { action: `secretsmanager:${operation}`, resource },
    ...(scope === undefined ? [] : viaService(scope, 'secretsmanager', keyArn, kms)),
  ];
}

/**
 * The authorization of a Lambda Invoke: `lambda:InvokeFunction` on the function's ARN, with the
 * qualifier appended when one other than `$LATEST` is given (as a qualified ARN).
 */
export function lambdaInvokeRequest(
  scope: AccountScope,
  functionName: string,
  qualifier?: string,
): AuthorizationRequest {
  const qualified = qualifier === undefined || qualifier === '$LATEST' ? '' : `:${qualifier}`;
  return {
    action: 'lambda:InvokeFunction',
    resource: arn(scope, 'lambda', `function:${functionName}${qualified}`),
  };
}

/**
 * The authorization of a Management API call: `execute-api:ManageConnections` on
 * `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/@connections/{connectionId}`,
 * the REST-style ARN AWS documents for `@connections`, so a policy can allow POST and not DELETE.
 *
 * @example
 * managementApiRequest(scope, 'abc123', 'prod', 'POST', 'L0SM9cOFvHcCIhw=')
 */
export function managementApiRequest(
  scope: AccountScope,
  apiId: string,
  stage: string,
  method: string,
  connectionId: string,
): AuthorizationRequest {
  return {
    action: 'execute-api:ManageConnections',
    resource: arn(
      scope,
      'execute-api',
      `${apiId}/${stage}/${method.toUpperCase()}/@connections/${connectionId}`,
    ),
  };
}
