import { beforeAll, describe, expect, it } from 'vitest';
import type { HandlerId } from '../../lambdas/shared/deployment';
import { ATTR, INDEX, REVOCATION_PK, SK } from '../../lambdas/shared/tables';
import { localResolver } from '../../local/deployment/local-resolver';
import { type DeploymentModel, deploymentModel } from '../../local/deployment/model';
import { loadStack } from '../../local/deployment/template-cache';
import { assumedRoleArn, authorize } from '../../local/iam/denials';
import type { AuthorizationRequest } from '../../local/iam/evaluate';
import {
  dynamoDbRequests,
  managementApiRequest,
  secretsManagerRequests,
  sqsRequests,
} from '../../local/iam/requests';

const scope = { region: 'us-east-1', accountId: '000000000000' };
let deployed: DeploymentModel;

beforeAll(async () => {
  const loaded = await loadStack();
  const names = {
    ...Object.fromEntries(Object.entries(loaded.index.tables).map(([id, logicalId]) => [logicalId, id])),
    [loaded.index.shardQueue]: 'push-shard-jobs',
    [loaded.index.api]: 'local',
  };
  deployed = deploymentModel(loaded, {
    resolver: localResolver(loaded.template, { sqsOrigin: 'http://127.0.0.1:1', names }),
  });
});

const keyOf = (table: string) => (table === 'Messages' ? deployed.tables.Messages?.encryptionKey : undefined);
/** Each table's partition key attribute, as the template declares it. */
const partitionKeyOf = (table: string) =>
  Object.values(deployed.tables).find(({ name }) => name === table)?.partitionKey;
const dynamo = (operation: string, body: Record<string, unknown>) => () =>
  dynamoDbRequests(scope, operation, body, keyOf, partitionKeyOf);
/** A GetItem on the connections table of the item keyed `pk`. */
const getConnectionsItem = (pk: string, sk: string) =>
  dynamo('GetItem', { TableName: 'Connections', Key: { [ATTR.pk]: { S: pk }, [ATTR.sk]: { S: sk } } });
const shardQueue = (operation: string) => () =>
  sqsRequests(scope, operation, 'push-shard-jobs', deployed.queues[deployed.index.shardQueue]?.encryption);
const connections = (method: string) => () => [managementApiRequest(scope, 'local', 'prod', method, 'Abc=')];
const tokenSecret = (operation: string) => () =>
  secretsManagerRequests(operation, deployed.functions.authorizer.environment.PUSH_TOKEN_SECRET_ARN);

/** Whether `handler`'s role, as synthesized, lets it make the call. */
function allowed(handler: HandlerId, requests: AuthorizationRequest[]): boolean {
  const fn = deployed.functions[handler];
  const caller = {
    arn: assumedRoleArn(scope.accountId, fn.role.name, fn.functionName),
    policies: fn.role.policies,
  };
  return authorize(caller, requests) === undefined;
}

describe("each handler's calls against its synthesized role", () => {
  it.each([
    ['authorizer', 'reads the token secret', tokenSecret('GetSecretValue'), true],
    ['authorizer', 'describes the token secret', tokenSecret('DescribeSecret'), false],
    ['connect', 'puts its connection record', dynamo('PutItem', { TableName: 'Connections' }), true],
    ['connect', 'updates a connection record', dynamo('UpdateItem', { TableName: 'Connections' }), false],
    [
      'connect',
      'lists the uid connections for the per-uid cap',
      dynamo('Query', { TableName: 'Connections', IndexName: INDEX.byUid }),
      true,
    ],
    [
      'connect',
      'queries the topic index',
      dynamo('Query', { TableName: 'Connections', IndexName: INDEX.byTopic }),
      false,
    ],
    ['authorizer', 'reads a revocation record', getConnectionsItem(REVOCATION_PK('u1'), SK.revocation), true],
    ['authorizer', 'reads a connection record', getConnectionsItem('AbCdEf0=', SK.connection), false],
    // ForAllValues alone would hold for a call that names no partition key: the Null guard refuses it.
    [
      'authorizer',
      'reads an item it names no key of',
      dynamo('GetItem', { TableName: 'Connections' }),
      false,
    ],
    ['authorizer', 'writes a connection record', dynamo('PutItem', { TableName: 'Connections' }), false],
    ['disconnect', 'queries its item collection', dynamo('Query', { TableName: 'Connections' }), true],
    [
      'disconnect',
      'batch-deletes its items',
      dynamo('BatchWriteItem', { RequestItems: { Connections: [] } }),
      true,
    ],
    ['disconnect', 'puts a record', dynamo('PutItem', { TableName: 'Connections' }), false],
    ['default', 'reads the message log, decrypting it', dynamo('Query', { TableName: 'Messages' }), true],
    ['default', 'writes the message log', dynamo('PutItem', { TableName: 'Messages' }), false],
    [
      'default',
      'reads its connection record when a resume is refused',
      dynamo('GetItem', { TableName: 'Connections' }),
      true,
    ],
    [
      'default',
      'lists the connections of a uid it closes for flooding',
      dynamo('Query', { TableName: 'Connections', IndexName: INDEX.byUid }),
      true,
    ],
    [
      'default',
      'queries the topic index',
      dynamo('Query', { TableName: 'Connections', IndexName: INDEX.byTopic }),
      false,
    ],
    ['default', 'posts to a connection', connections('POST'), true],
    ['default', 'closes an expired connection', connections('DELETE'), true],
    ['default', 'inspects a connection', connections('GET'), false],
    [
      'publish',
      'queries each index',
      dynamo('Query', { TableName: 'Connections', IndexName: INDEX.byShard }),
      true,
    ],
    ['publish', 'scans the connections', dynamo('Scan', { TableName: 'Connections' }), false],
    [
      'publish',
      'appends to the message log, encrypting it',
      dynamo('UpdateItem', { TableName: 'Messages' }),
      true,
    ],
    ['publish', 'reads a message', dynamo('GetItem', { TableName: 'Messages' }), false],
    ['publish', 'reads publish status', dynamo('Query', { TableName: 'Publishes' }), true],
    ['publish', 'claims a publish id', dynamo('PutItem', { TableName: 'Publishes' }), true],
    ['publish', 'scans the publish records', dynamo('Scan', { TableName: 'Publishes' }), false],
    ['publish', 'enqueues shard jobs on the encrypted queue', shardQueue('SendMessageBatch'), true],
    ['publish', 'receives shard jobs', shardQueue('ReceiveMessage'), false],
    ['publish', 'kicks a connection', connections('DELETE'), true],
    ['publish', 'inspects a connection', connections('GET'), false],
    [
      'worker',
      'reads a topic shard',
      dynamo('Query', { TableName: 'Connections', IndexName: INDEX.byTopic }),
      true,
    ],
    [
      'worker',
      'queries the uid index',
      dynamo('Query', { TableName: 'Connections', IndexName: INDEX.byUid }),
      false,
    ],
    ['worker', 'advances its checkpoint', dynamo('UpdateItem', { TableName: 'Publishes' }), true],
    ['worker', 'receives its shard job from the encrypted queue', shardQueue('ReceiveMessage'), true],
    ['worker', 'deletes its shard job', shardQueue('DeleteMessageBatch'), true],
    [
      'worker',
      'sends the rest of a shard too big for one run back to the encrypted queue',
      shardQueue('SendMessageBatch'),
      true,
    ],
    ['worker', "sets a failed job's backoff", shardQueue('ChangeMessageVisibility'), true],
    ['worker', 'closes an expired connection', connections('DELETE'), true],
  ] as const)('%s %s: %s', (handler, _what, requests, expected) => {
    expect(allowed(handler, requests())).toBe(expected);
  });

  it('refuses a call on the encrypted table when only the key grant is missing', () => {
    const fn = deployed.functions.default;
    const withoutKey = fn.role.policies.map((policy) => ({
      ...policy,
      statements: policy.statements.filter((s) => !(s.Action ?? []).includes('kms:Decrypt')),
    }));
    const denial = authorize(
      { arn: assumedRoleArn(scope.accountId, fn.role.name, fn.functionName), policies: withoutKey },
      dynamoDbRequests(scope, 'Query', { TableName: 'Messages' }, keyOf),
    );
    expect(denial?.request.action).toBe('kms:Decrypt');
  });
});
