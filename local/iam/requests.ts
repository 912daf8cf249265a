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

const TRANSACT_WRITE_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/**
 * The authorizations of one DynamoDB call (`operation` as in `X-Amz-Target`, `body` its JSON).
 * A Query or Scan with `IndexName` acts on the index's ARN; batch calls act on each table they
 * name; a transaction needs the item action of each part (IAM has no Transact* actions).
 *
 * @example
 * dynamoDbRequests(scope, 'Query', { TableName: 'Connections', IndexName: 'byUid' })
 * // [{ action: 'dynamodb:Query', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/Connections/index/byUid' }]
 */
export function dynamoDbRequests(
  scope: AccountScope,
  operation: string,
  body: Record<string, unknown>,
  keyOf: KeyLookup = () => undefined,
): AuthorizationRequest[] {
  const requests: AuthorizationRequest[] = [];
  const tables = new Set<string>();
  const add = (action: string, table: string, index?: string) => {
    requests.push({ action, resource: tableArn(scope, table, index) });
    tables.add(table);
  };
  if (operation === 'BatchWriteItem' || operation === 'BatchGetItem') {
    for (const table of Object.keys((body.RequestItems ?? {}) as object)) add(`dynamodb:${operation}`, table);
  } else if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    for (const item of (body.TransactItems ?? []) as Record<string, { TableName?: string }>[]) {
      for (const [kind, part] of Object.entries(item)) {
        const action = operation === 'TransactGetItems' ? 'dynamodb:GetItem' : TRANSACT_WRITE_ACTIONS[kind];
        if (action !== undefined && typeof part.TableName === 'string') add(action, part.TableName);
      }
    }
  } else if (typeof body.TableName === 'string') {
    const index = typeof body.IndexName === 'string' ? body.IndexName : undefined;
    add(`dynamodb:${operation}`, body.TableName, index);
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
