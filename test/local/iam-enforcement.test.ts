/**
 * IAM on the local endpoints, with real SDK clients and the real handlers: a call signed with a
 * function's credentials is judged by that function's role as synthesized (with a grant taken
 * out where a test needs one missing); the developer's own credentials are allowed everything.
 */
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerId } from '../../lambdas/shared/deployment';
import { ATTR, TABLES } from '../../lambdas/shared/tables';
import { type DeploymentIam, deploymentIam } from '../../local/deployment/enforcement';
import { localResolver } from '../../local/deployment/local-resolver';
import { type DeploymentModel, deploymentModel } from '../../local/deployment/model';
import { loadStack } from '../../local/deployment/template-cache';
import { assumedRoleArn, type CallerIdentity } from '../../local/iam/denials';
import type { PolicyDocument } from '../../local/iam/policy';
import type { Logger } from '../../local/logger';
import { SHARD_QUEUE_NAME } from '../../local/shard-queue';
import type { LocalStack } from '../../local/stack';
import { closeOpenSockets, connect, handshakeRefusal, postJson, startTestStack, tokenFor } from './helpers';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const DEVELOPER = { accessKeyId: 'developer', secretAccessKey: 'developer' };

let model: DeploymentModel;
let stack: LocalStack;
const warnings: string[] = [];
const logger: Logger = { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };

/**
 * The one handler whose role a test has cut down, with that role; every other call signed with a
 * function's credentials is judged by the signing function's own role, as the stack judges it.
 */
let changed: { readonly handler: HandlerId; readonly caller: CallerIdentity } | undefined;

/** Puts `handler`'s role, less what `without` takes out, in force for its calls. */
function change(handler: HandlerId, without: (policy: PolicyDocument) => PolicyDocument): void {
  changed = { handler, caller: callerOf(handler, without) };
}

function callerOf(handler: HandlerId, without?: (policy: PolicyDocument) => PolicyDocument): CallerIdentity {
  const fn = model.functions[handler];
  return {
    arn: assumedRoleArn(ACCOUNT, fn.role.name, fn.functionName),
    policies: without === undefined ? fn.role.policies : fn.role.policies.map(without),
  };
}

/** The role's policies with every statement granting `action` on a resource matching `resource` taken out. */
function dropGrant(action: string, resource: RegExp) {
  return (policy: PolicyDocument): PolicyDocument => ({
    ...policy,
    statements: policy.statements.flatMap((s) => {
      if (!(s.Action ?? []).includes(action)) return [s];
      const kept = (s.Resource ?? []).filter((r) => !resource.test(r));
      return kept.length === 0 ? [] : [{ ...s, Resource: kept }];
    }),
  });
}

/** The latest denial line the stack logged. */
const lastDenial = () => warnings.filter((line) => line.startsWith('IAM denied')).at(-1);

/** Function credentials: the key names the handler, as each function's own credentials do. */
const signedAs = (handler: HandlerId) => ({ accessKeyId: `fn-${handler}`, secretAccessKey: 'x' });

beforeAll(async () => {
  const loaded = await loadStack();
  const modelNamed = (names: Record<string, string>) =>
    deploymentModel(loaded, { resolver: localResolver(loaded.template, { sqsOrigin: 'http://x', names }) });
  // The API's id and stage do not depend on the local names; the stack starts on the template's.
  const { api } = modelNamed({});
  let resources: DeploymentIam | undefined;
  stack = await startTestStack({
    stage: api.stageName,
    logger,
    iam: {
      keys: {
        table: (name) => resources?.keys?.table?.(name),
        queue: (name) => resources?.keys?.queue?.(name),
      },
      managementApi: { apiId: api.apiId, stage: api.stageName },
      functionArn: (name) => resources?.functionArn?.(name),
      callerFor: (key) => {
        if (key === DEVELOPER.accessKeyId) return undefined;
        // Each function signs with its own access key id; the test's clients sign as `fn-<handler>`.
        const named =
          (/^fn-(\w+)$/.exec(key)?.[1] as HandlerId | undefined) ?? stack?.callers.callerFor(key)?.handler;
        if (named === undefined) return undefined;
        return changed?.handler === named ? changed.caller : callerOf(named);
      },
    },
  });
  // The template's resources under the running stack's names, so its ARNs are the local ones.
  model = modelNamed({
    ...Object.fromEntries(TABLES.map((t) => [loaded.index.tables[t.id], stack.tableNames[t.id] as string])),
    [loaded.index.shardQueue]: SHARD_QUEUE_NAME,
  });
  resources = deploymentIam(model);
}, 60_000);

afterAll(async () => {
  await closeOpenSockets();
  await stack?.stop();
});

describe('a handler whose grant is removed', () => {
  it('cannot connect when $connect may not put its record: DynamoDB answers AccessDeniedException', async () => {
    change('connect', dropGrant('dynamodb:PutItem', new RegExp(`table/${stack.tableName}$`)));
    const before = stack.emulator.stats.iam.byService.dynamodb;
    const refusal = await handshakeRefusal(`${stack.wsUrl}?token=${await tokenFor(stack, 'u1')}`);
    expect(refusal.status).toBe(500);
    expect(stack.emulator.stats.iam.byService.dynamodb - before).toBe(1);
    expect(lastDenial()).toBe(
      `IAM denied ConnectHandlerRole (ConnectHandlerFunction) dynamodb:PutItem on arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${stack.tableName}: no statement of its role allows it`,
    );
  });

  it('connects again once the grant is back', async () => {
    changed = undefined;
    const socket = await connect(stack, 'u1');
    expect(socket.connectionId).not.toBe('');
  });

  it('cannot deliver when publish may not POST to @connections: the Management API refuses', async () => {
    changed = undefined;
    const socket = await connect(stack, 'u2');
    change('publish', dropGrant('execute-api:ManageConnections', /\/POST\//));
    const before = stack.emulator.stats.iam.byService['execute-api'];
    const { status, body } = await postJson(stack, '/publish', { to: { uid: 'u2' }, data: { n: 1 } });
    expect(status).toBe(200);
    expect(body).toMatchObject({ connections: 1, delivered: 0, failed: 1 });
    expect(stack.emulator.stats.iam.byService['execute-api'] - before).toBe(1);
    expect(lastDenial()).toBe(
      `IAM denied PublishHandlerRole (PublishHandlerFunction) execute-api:ManageConnections on arn:aws:execute-api:${REGION}:${ACCOUNT}:${model.api.apiId}/${model.api.stageName}/POST/@connections/${socket.connectionId}: no statement of its role allows it`,
    );
    expect(socket.pending).toBe(0);
  });
});

describe('calls signed with a function’s credentials', () => {
  const dynamo = (credentials: typeof DEVELOPER) =>
    new DynamoDBClient({ endpoint: stack.functionsDynamodbEndpoint, region: REGION, credentials });

  it('are refused with DynamoDB’s AccessDeniedException when the role lacks the action', async () => {
    const client = dynamo(signedAs('publish'));
    const error = await client.send(new ScanCommand({ TableName: stack.tableName })).catch((e: unknown) => e);
    client.destroy();
    expect(error).toMatchObject({
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 400 },
      message: `User: arn:aws:sts::${ACCOUNT}:assumed-role/PublishHandlerRole/PublishHandlerFunction is not authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${stack.tableName} because no identity-based policy allows the dynamodb:Scan action`,
    });
  });

  it('pass through the gate when the role allows them', async () => {
    const client = dynamo(signedAs('connect'));
    await client.send(
      new PutItemCommand({
        TableName: stack.tableName,
        Item: { [ATTR.pk]: { S: 'iam-test' }, [ATTR.sk]: { S: 'meta' } },
      }),
    );
    client.destroy();
  });

  it('are refused by SQS, SNS, Lambda and the Management API with each service’s own error', async () => {
    const sqs = new SQSClient({ endpoint: stack.httpUrl, region: REGION, credentials: signedAs('publish') });
    const queueUrl = `${stack.httpUrl}/${ACCOUNT}/${SHARD_QUEUE_NAME}`;
    const sqsError = await sqs
      .send(new ReceiveMessageCommand({ QueueUrl: queueUrl }))
      .catch((e: unknown) => e);
    sqs.destroy();
    expect(sqsError).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });

    const sns = new SNSClient({ endpoint: stack.httpUrl, region: REGION, credentials: signedAs('worker') });
    const topicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:push-publish`;
    const snsError = await sns
      .send(new PublishCommand({ TopicArn: topicArn, Message: 'x' }))
      .catch((e: unknown) => e);
    sns.destroy();
    expect(snsError).toMatchObject({
      name: 'AuthorizationErrorException',
      $metadata: { httpStatusCode: 403 },
    });
    expect((snsError as Error).message).toContain('is not authorized to perform: SNS:Publish');

    const lambda = new LambdaClient({
      endpoint: stack.httpUrl,
      region: REGION,
      credentials: signedAs('worker'),
    });
    const invokeError = await lambda
      .send(new InvokeCommand({ FunctionName: 'publish', Payload: '{}' }))
      .catch((e: unknown) => e);
    lambda.destroy();
    expect(invokeError).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    expect((invokeError as Error).message).toContain(
      `lambda:InvokeFunction on resource: ${model.functions.publish.arn}`,
    );

    const management = new ApiGatewayManagementApiClient({
      endpoint: stack.managementEndpoint,
      region: REGION,
      credentials: signedAs('authorizer'),
    });
    const postError = await management
      .send(new PostToConnectionCommand({ ConnectionId: 'AAAA=', Data: 'x' }))
      .catch((e: unknown) => e);
    management.destroy();
    expect(postError).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    expect(stack.emulator.stats.iam.byService).toMatchObject({ sqs: 1, sns: 1, lambda: 1 });
  });
});

describe('the developer’s own credentials', () => {
  it('may call anything, as with an administrator profile', async () => {
    const client = new DynamoDBClient({
      endpoint: stack.functionsDynamodbEndpoint,
      region: REGION,
      credentials: DEVELOPER,
    });
    const scanned = await client.send(new ScanCommand({ TableName: stack.tableName }));
    client.destroy();
    expect(scanned.$metadata.httpStatusCode).toBe(200);

    const socket = await (async () => {
      changed = undefined;
      return connect(stack, 'u3');
    })();
    const management = new ApiGatewayManagementApiClient({
      endpoint: stack.managementEndpoint,
      region: REGION,
      credentials: DEVELOPER,
    });
    await management.send(new PostToConnectionCommand({ ConnectionId: socket.connectionId, Data: 'hi' }));
    management.destroy();
    expect((await socket.next()).text).toBe('hi');
  });
});

describe('with enforcement off', () => {
  it('lets a function make a call its role does not allow', async () => {
    const off = await startTestStack({ iam: false });
    try {
      expect(off.functionsDynamodbEndpoint).toBe(off.dynamodbEndpoint);
      const client = new DynamoDBClient({
        endpoint: off.functionsDynamodbEndpoint,
        region: REGION,
        credentials: signedAs('publish'),
      });
      const scanned = await client.send(new ScanCommand({ TableName: stack.tableName }));
      client.destroy();
      expect(scanned.$metadata.httpStatusCode).toBe(200);
      expect(off.emulator.stats.iam.denials).toBe(0);
    } finally {
      await off.stop();
    }
  });
});
