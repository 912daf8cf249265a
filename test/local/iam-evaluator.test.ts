import { describe, expect, it } from 'vitest';
import {
  accessDeniedMessage,
  accessKeyIdOf,
  assumedRoleArn,
  authorize,
  denialResponse,
} from '../../local/iam/denials';
import {
  type AuthorizationRequest,
  actionMatches,
  allowHeldByCondition,
  evaluate,
  resourceMatches,
} from '../../local/iam/evaluate';
import { normalizeStatement, type PolicyDocument, PolicyError } from '../../local/iam/policy';
import {
  dynamoDbRequests,
  lambdaInvokeRequest,
  managementApiRequest,
  secretsManagerRequests,
  snsRequests,
  sqsRequests,
} from '../../local/iam/requests';

const scope = { region: 'us-east-1', accountId: '000000000000' };
const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table/Connections';
const KEY = 'arn:aws:kms:us-east-1:000000000000:key/1234';

function policy(...statements: Record<string, unknown>[]): PolicyDocument[] {
  return [{ name: 'Test', statements: statements.map(normalizeStatement) }];
}

describe('action and resource matching', () => {
  it.each([
    ['dynamodb:PutItem', 'dynamodb:PutItem', true],
    ['dynamodb:putitem', 'dynamodb:PutItem', true],
    ['DynamoDB:PutItem', 'dynamodb:putItem', true],
    ['dynamodb:*', 'dynamodb:Query', true],
    ['dynamodb:Get*', 'dynamodb:GetItem', true],
    ['dynamodb:Get*', 'dynamodb:Query', false],
    ['sqs:?eceiveMessage', 'sqs:ReceiveMessage', true],
    ['*', 'kms:Decrypt', true],
    ['dynamodb:PutItem', 'dynamodb:PutItems', false],
    ['sqs:SendMessage', 'sns:SendMessage', false],
  ])('action %s covers %s: %s', (pattern, action, expected) => {
    expect(actionMatches(pattern, action)).toBe(expected);
  });

  it.each([
    [TABLE, TABLE, true],
    [TABLE, `${TABLE}/index/byUid`, false],
    [`${TABLE}/index/*`, `${TABLE}/index/byUid`, true],
    [`${TABLE}/index/byUid`, `${TABLE}/index/byTopic`, false],
    ['arn:aws:dynamodb:us-east-1:000000000000:table/connections', TABLE, false],
    ['arn:aws:dynamodb:*:000000000000:table/Connections', TABLE, true],
    ['arn:aws:dynamodb:*:*:table/*', TABLE, true],
    ['arn:aws:*:us-east-1:000000000000:table/Connections', TABLE, true],
    ['arn:aws:dynamodb:us-east-*:000000000000:table/Connections', TABLE, true],
    // A wildcard in one ARN segment never reaches into the next.
    ['arn:aws:dynamodb:us-east-1*:table/Connections', TABLE, false],
    [
      'arn:aws:execute-api:us-east-1:000000000000:api/prod/POST/@connections/*',
      'arn:aws:execute-api:us-east-1:000000000000:api/prod/POST/@connections/abc=',
      true,
    ],
    [
      'arn:aws:execute-api:us-east-1:000000000000:api/prod/POST/@connections/*',
      'arn:aws:execute-api:us-east-1:000000000000:api/prod/DELETE/@connections/abc=',
      false,
    ],
    [
      'arn:aws:logs:us-east-1:000000000000:log-group:Logs:*',
      'arn:aws:logs:us-east-1:000000000000:log-group:Logs:log-stream:x',
      true,
    ],
    ['arn:aws:dynamodb:*', TABLE, true],
    ['arn:aws:sqs:*', TABLE, false],
    // Everything but `*` and `?` is literal, RegExp metacharacters included.
    ['arn:aws:dynamodb:us-east-1:000000000000:table/Conn.ctions', TABLE, false],
    ['arn:aws:dynamodb:us-east-1:000000000000:table/Conn?ctions', TABLE, true],
    ['arn:aws:dynamodb:us-east-1:000000000000:table/(Connections|Other)', TABLE, false],
    // `?` stands for one character, never a segment's colon.
    ['arn:aws:dynamodb:us-east-1?000000000000:table/Connections', TABLE, false],
    // Several `*` in each segment, against an ARN that fails only at its end: matched segment by
    // segment this answers at once; as one RegExp it tried every split of the earlier segments.
    [
      'arn:*a*a*:*a*a*:*a*a*:*a*a*:x',
      `arn:${'a'.repeat(30)}:${'a'.repeat(30)}:${'a'.repeat(30)}:${'a'.repeat(30)}:y`,
      false,
    ],
    [TABLE, '*', false],
    ['*', TABLE, true],
  ])('resource %s covers %s: %s', (pattern, arn, expected) => {
    expect(resourceMatches(pattern, arn)).toBe(expected);
  });
});

describe('evaluation', () => {
  const put: AuthorizationRequest = { action: 'dynamodb:PutItem', resource: TABLE };
  const allowPut = { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: TABLE };

  it.each([
    ['nothing grants it', [], 'implicitDeny'],
    ['an Allow matches', [allowPut], 'allow'],
    ['the Allow names another action', [{ ...allowPut, Action: 'dynamodb:GetItem' }], 'implicitDeny'],
    ['the Allow names another table', [{ ...allowPut, Resource: `${TABLE}2` }], 'implicitDeny'],
    ['an explicit Deny matches too', [allowPut, { ...allowPut, Effect: 'Deny' }], 'explicitDeny'],
    ['a Deny comes first', [{ ...allowPut, Effect: 'Deny', Action: 'dynamodb:*' }, allowPut], 'explicitDeny'],
    ['NotAction leaves it in', [{ Effect: 'Allow', NotAction: 'dynamodb:Scan', Resource: '*' }], 'allow'],
    [
      'NotAction leaves it out',
      [{ Effect: 'Allow', NotAction: 'dynamodb:Put*', Resource: '*' }],
      'implicitDeny',
    ],
    [
      'NotResource excludes the table',
      [{ Effect: 'Allow', Action: 'dynamodb:*', NotResource: TABLE }],
      'implicitDeny',
    ],
    [
      'a Deny with NotResource spares the table',
      [allowPut, { Effect: 'Deny', Action: '*', NotResource: `${TABLE}*` }],
      'allow',
    ],
  ])('%s → %s', (_, statements, decision) => {
    expect(evaluate(policy(...statements), put).decision).toBe(decision);
  });

  it('names the statement that decided', () => {
    const deny = { Sid: 'NoWrites', Effect: 'Deny', Action: 'dynamodb:PutItem', Resource: '*' };
    expect(evaluate(policy(allowPut, deny), put)).toEqual({
      decision: 'explicitDeny',
      statement: { policy: 'Test', index: 1, sid: 'NoWrites' },
    });
  });

  describe('the Allow a condition held back, for a denial to point to', () => {
    const read = (key: string): AuthorizationRequest => ({
      action: 'dynamodb:GetItem',
      resource: TABLE,
      context: { 'dynamodb:LeadingKeys': [key] },
    });
    const revocations = {
      Sid: 'Revocations',
      Effect: 'Allow',
      Action: 'dynamodb:GetItem',
      Resource: TABLE,
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['revoked#*'] } },
    };
    const { Sid: _, ...unnamed } = revocations;

    it.each([
      [
        'its condition fails',
        [revocations],
        read('conn#1'),
        { policy: 'Test', index: 0, sid: 'Revocations' },
      ],
      ['an unnamed one, by index', [allowPut, unnamed], read('conn#1'), { policy: 'Test', index: 1 }],
      ['its condition holds (the request is allowed)', [revocations], read('revoked#u1'), undefined],
      ['it names another action', [revocations], { ...read('conn#1'), action: 'dynamodb:Query' }, undefined],
      ['it names another table', [revocations], { ...read('conn#1'), resource: `${TABLE}2` }, undefined],
      ['a Deny, not an Allow', [{ ...revocations, Effect: 'Deny' }], read('conn#1'), undefined],
      ['no condition at all', [{ ...allowPut, Action: 'dynamodb:Query' }], read('conn#1'), undefined],
    ])('%s', (_what, statements, request, found) => {
      expect(allowHeldByCondition(policy(...statements), request)).toEqual(found);
    });
  });
});

describe('conditions', () => {
  const decrypt = (context?: AuthorizationRequest['context']): AuthorizationRequest => ({
    action: 'kms:Decrypt',
    resource: KEY,
    ...(context === undefined ? {} : { context }),
  });
  const grant = (condition: Record<string, unknown>) => [
    { Effect: 'Allow', Action: 'kms:Decrypt', Resource: KEY, Condition: condition },
  ];
  const viaSqs = { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' };
  const viaDynamo = { 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' };

  it.each([
    ['StringEquals on kms:ViaService, same service', { StringEquals: viaSqs }, viaSqs, 'allow'],
    ['StringEquals on kms:ViaService, another service', { StringEquals: viaSqs }, viaDynamo, 'implicitDeny'],
    ['StringEquals with the key absent', { StringEquals: viaSqs }, undefined, 'implicitDeny'],
    [
      'condition keys in any case',
      { StringEquals: { 'KMS:VIASERVICE': viaSqs['kms:ViaService'] } },
      viaSqs,
      'allow',
    ],
    [
      'values compared case-sensitively',
      { StringEquals: { 'kms:ViaService': 'SQS.us-east-1.amazonaws.com' } },
      viaSqs,
      'implicitDeny',
    ],
    [
      'StringEqualsIgnoreCase',
      { StringEqualsIgnoreCase: { 'kms:ViaService': 'SQS.US-EAST-1.amazonaws.com' } },
      viaSqs,
      'allow',
    ],
    [
      'one of several values',
      { StringEquals: { 'kms:ViaService': ['a', viaSqs['kms:ViaService']] } },
      viaSqs,
      'allow',
    ],
    ['StringLike', { StringLike: { 'kms:ViaService': 'sqs.*.amazonaws.com' } }, viaSqs, 'allow'],
    ['StringNotEquals, another service', { StringNotEquals: viaSqs }, viaDynamo, 'allow'],
    ['StringNotEquals, same service', { StringNotEquals: viaSqs }, viaSqs, 'implicitDeny'],
    ['StringNotEquals with the key absent', { StringNotEquals: viaSqs }, undefined, 'allow'],
    ['StringEqualsIfExists with the key absent', { StringEqualsIfExists: viaSqs }, undefined, 'allow'],
    ['StringEqualsIfExists, another service', { StringEqualsIfExists: viaSqs }, viaDynamo, 'implicitDeny'],
    [
      'aws:SourceAccount',
      { StringEquals: { 'aws:SourceAccount': '000000000000' } },
      { 'aws:SourceAccount': '000000000000' },
      'allow',
    ],
    [
      'ArnLike',
      { ArnLike: { 'aws:SourceArn': 'arn:aws:sqs:*:000000000000:*' } },
      { 'aws:SourceArn': 'arn:aws:sqs:us-east-1:000000000000:q' },
      'allow',
    ],
    ['Bool', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': 'true' }, 'allow'],
    [
      'Bool, false',
      { Bool: { 'aws:SecureTransport': 'true' } },
      { 'aws:SecureTransport': 'false' },
      'implicitDeny',
    ],
    ['NumericLessThan', { NumericLessThan: { 'n:count': '10' } }, { 'n:count': '9' }, 'allow'],
    ['Null true with the key absent', { Null: { 'kms:ViaService': 'true' } }, undefined, 'allow'],
    ['Null false with the key absent', { Null: { 'kms:ViaService': 'false' } }, undefined, 'implicitDeny'],
    [
      'ForAnyValue',
      { 'ForAnyValue:StringEquals': { 'k:tags': ['a', 'b'] } },
      { 'k:tags': ['c', 'b'] },
      'allow',
    ],
    [
      'ForAllValues, one outside',
      { 'ForAllValues:StringEquals': { 'k:tags': ['a', 'b'] } },
      { 'k:tags': ['a', 'c'] },
      'implicitDeny',
    ],
    [
      'every operator must hold',
      { StringEquals: viaSqs, Bool: { 'aws:SecureTransport': 'true' } },
      viaSqs,
      'implicitDeny',
    ],
  ])('%s → %s', (_, condition, context, decision) => {
    expect(evaluate(policy(...grant(condition)), decrypt(context)).decision).toBe(decision);
  });

  it('refuses an operator it does not know rather than guessing', () => {
    expect(() =>
      evaluate(policy(...grant({ DateGreaterThan: { 'aws:CurrentTime': '2020-01-01' } })), decrypt({})),
    ).toThrow(PolicyError);
  });
});

describe('policy normalization', () => {
  it.each([
    ['no Effect', { Action: 'a:b', Resource: '*' }],
    ['Action and NotAction', { Effect: 'Allow', Action: 'a:b', NotAction: 'a:c', Resource: '*' }],
    ['no Resource', { Effect: 'Allow', Action: 'a:b' }],
    ['a Principal', { Effect: 'Allow', Action: 'a:b', Resource: '*', Principal: '*' }],
    ['a non-string action', { Effect: 'Allow', Action: [1], Resource: '*' }],
  ])('refuses a statement with %s', (_, raw) => {
    expect(() => normalizeStatement(raw)).toThrow(PolicyError);
  });
});

describe('request mapping', () => {
  const kmsVia = (service: string, action: string) => ({
    action,
    resource: KEY,
    context: { 'kms:ViaService': `${service}.us-east-1.amazonaws.com`, 'kms:CallerAccount': '000000000000' },
  });

  it.each([
    ['PutItem', { TableName: 'Connections', Item: {} }, [{ action: 'dynamodb:PutItem', resource: TABLE }]],
    ['Query on the table', { TableName: 'Connections' }, [{ action: 'dynamodb:Query', resource: TABLE }]],
    [
      'Query',
      { TableName: 'Connections', IndexName: 'byUid' },
      [{ action: 'dynamodb:Query', resource: `${TABLE}/index/byUid` }],
    ],
    [
      'BatchWriteItem',
      { RequestItems: { Connections: [], Messages: [] } },
      [
        { action: 'dynamodb:BatchWriteItem', resource: TABLE },
        {
          action: 'dynamodb:BatchWriteItem',
          resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/Messages',
        },
      ],
    ],
    [
      'TransactWriteItems',
      {
        TransactItems: [
          { Put: { TableName: 'Connections' } },
          { ConditionCheck: { TableName: 'Connections' } },
        ],
      },
      [
        { action: 'dynamodb:PutItem', resource: TABLE },
        { action: 'dynamodb:ConditionCheckItem', resource: TABLE },
      ],
    ],
    ['ListTables', {}, [{ action: 'dynamodb:ListTables', resource: '*' }]],
  ])('DynamoDB %s', (operation, body, expected) => {
    expect(dynamoDbRequests(scope, operation.split(' ')[0] as string, body)).toEqual(expected);
  });

  it('DynamoDB on a table with a customer-managed key also needs kms:Decrypt through DynamoDB', () => {
    const keyOf = (table: string) => (table === 'Messages' ? KEY : undefined);
    expect(dynamoDbRequests(scope, 'PutItem', { TableName: 'Messages' }, keyOf)).toEqual([
      { action: 'dynamodb:PutItem', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/Messages' },
      kmsVia('dynamodb', 'kms:Decrypt'),
    ]);
    expect(dynamoDbRequests(scope, 'PutItem', { TableName: 'Connections' }, keyOf)).toHaveLength(1);
  });

  const queue = 'arn:aws:sqs:us-east-1:000000000000:push-shard-jobs';
  it.each([
    ['SendMessage', undefined, [{ action: 'sqs:SendMessage', resource: queue }]],
    ['SendMessageBatch', undefined, [{ action: 'sqs:SendMessage', resource: queue }]],
    ['DeleteMessageBatch', undefined, [{ action: 'sqs:DeleteMessage', resource: queue }]],
    ['ChangeMessageVisibilityBatch', undefined, [{ action: 'sqs:ChangeMessageVisibility', resource: queue }]],
    [
      'SendMessageBatch',
      KEY,
      [
        { action: 'sqs:SendMessage', resource: queue },
        kmsVia('sqs', 'kms:GenerateDataKey'),
        kmsVia('sqs', 'kms:Decrypt'),
      ],
    ],
    [
      'ReceiveMessage',
      KEY,
      [{ action: 'sqs:ReceiveMessage', resource: queue }, kmsVia('sqs', 'kms:Decrypt')],
    ],
    ['GetQueueAttributes', KEY, [{ action: 'sqs:GetQueueAttributes', resource: queue }]],
  ])('SQS %s (key %s)', (operation, key, expected) => {
    expect(sqsRequests(scope, operation, 'push-shard-jobs', key)).toEqual(expected);
  });

  it.each([
    ['Publish', [{ action: 'sns:Publish', resource: 'arn:aws:sns:us-east-1:000000000000:t' }]],
    ['PublishBatch', [{ action: 'sns:Publish', resource: 'arn:aws:sns:us-east-1:000000000000:t' }]],
  ])('SNS %s', (operation, expected) => {
    expect(snsRequests(scope, operation, 'arn:aws:sns:us-east-1:000000000000:t')).toEqual(expected);
  });

  it('SNS Publish to an encrypted topic needs the key through SNS', () => {
    expect(snsRequests(scope, 'Publish', 'arn:aws:sns:us-east-1:000000000000:t', KEY).slice(1)).toEqual([
      kmsVia('sns', 'kms:GenerateDataKey'),
      kmsVia('sns', 'kms:Decrypt'),
    ]);
  });

  const secret = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:TokenSecret';
  it.each([
    ['GetSecretValue', [{ action: 'secretsmanager:GetSecretValue', resource: secret }]],
    ['PutSecretValue', [{ action: 'secretsmanager:PutSecretValue', resource: secret }]],
    ['GetRandomPassword', [{ action: 'secretsmanager:GetRandomPassword', resource: '*' }]],
  ])('Secrets Manager %s', (operation, expected) => {
    expect(secretsManagerRequests(operation, secret)).toEqual(expected);
  });

  it.each([
    [undefined, 'arn:aws:lambda:us-east-1:000000000000:function:publish'],
    ['$LATEST', 'arn:aws:lambda:us-east-1:000000000000:function:publish'],
    ['live', 'arn:aws:lambda:us-east-1:000000000000:function:publish:live'],
  ])('Lambda Invoke with qualifier %s', (qualifier, resource) => {
    expect(lambdaInvokeRequest(scope, 'publish', qualifier)).toEqual({
      action: 'lambda:InvokeFunction',
      resource,
    });
  });

  it.each([
    ['POST', 'PostToConnection'],
    ['GET', 'GetConnection'],
    ['DELETE', 'DeleteConnection'],
  ])('Management API %s (%s) is ManageConnections on a method-scoped ARN', (method) => {
    expect(managementApiRequest(scope, 'api1', 'prod', method.toLowerCase(), 'Ab_c=')).toEqual({
      action: 'execute-api:ManageConnections',
      resource: `arn:aws:execute-api:us-east-1:000000000000:api1/prod/${method}/@connections/Ab_c=`,
    });
  });
});

describe('denials', () => {
  const caller = {
    arn: assumedRoleArn('000000000000', 'PublishRole', 'PublishFunction'),
    policies: policy({ Effect: 'Allow', Action: 'dynamodb:Query', Resource: TABLE }),
  };

  it.each([
    [
      'AWS4-HMAC-SHA256 Credential=local-publish/20261201/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=ab',
      undefined,
      'local-publish',
    ],
    [undefined, 'local-worker/20261201/us-east-1/execute-api/aws4_request', 'local-worker'],
    [undefined, undefined, undefined],
    ['Bearer token', undefined, undefined],
  ])('reads the access key id a request was signed with: %s %s', (header, presigned, expected) => {
    expect(accessKeyIdOf(header, presigned)).toBe(expected);
  });

  it('names the role session Lambda uses', () => {
    expect(caller.arn).toBe('arn:aws:sts::000000000000:assumed-role/PublishRole/PublishFunction');
  });

  it('allows every call without function credentials, as an administrator profile would', () => {
    expect(authorize(undefined, [{ action: 'dynamodb:Scan', resource: TABLE }])).toBeUndefined();
  });

  it('returns the first refused request of a call', () => {
    const denial = authorize(caller, [
      { action: 'dynamodb:Query', resource: TABLE },
      { action: 'kms:Decrypt', resource: KEY },
    ]);
    expect(denial?.request).toEqual({ action: 'kms:Decrypt', resource: KEY });
  });

  it('decides each caller by its own policies when both ask the same, again and again', () => {
    const other = {
      arn: assumedRoleArn('000000000000', 'WorkerRole', 'WorkerFunction'),
      policies: policy({ Effect: 'Deny', Action: 'dynamodb:*', Resource: '*' }),
    };
    const query = [{ action: 'dynamodb:Query', resource: TABLE }];
    for (let round = 0; round < 3; round++) {
      expect(authorize(caller, query)).toBeUndefined();
      expect(authorize(other, query)?.evaluation.decision).toBe('explicitDeny');
    }
  });

  it('tells requests apart by their condition context', () => {
    const viaSqs = {
      arn: assumedRoleArn('000000000000', 'QueueRole', 'QueueFunction'),
      policies: policy({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: KEY,
        Condition: { StringEquals: { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' } },
      }),
    };
    const decrypt = (service: string) => [
      { action: 'kms:Decrypt', resource: KEY, context: { 'kms:ViaService': service } },
    ];
    expect(authorize(viaSqs, decrypt('sqs.us-east-1.amazonaws.com'))).toBeUndefined();
    expect(authorize(viaSqs, decrypt('sns.us-east-1.amazonaws.com'))?.evaluation.decision).toBe(
      'implicitDeny',
    );
    expect(authorize(viaSqs, decrypt('sqs.us-east-1.amazonaws.com'))).toBeUndefined();
  });

  it('words an implicit and an explicit denial as AWS does', () => {
    const request = { action: 'dynamodb:PutItem', resource: TABLE };
    expect(
      accessDeniedMessage({ caller: caller.arn, request, evaluation: { decision: 'implicitDeny' } }),
    ).toBe(
      'User: arn:aws:sts::000000000000:assumed-role/PublishRole/PublishFunction is not authorized to perform: ' +
        `dynamodb:PutItem on resource: ${TABLE} because no identity-based policy allows the dynamodb:PutItem action`,
    );
    expect(
      accessDeniedMessage({ caller: caller.arn, request, evaluation: { decision: 'explicitDeny' } }),
    ).toMatch(/on resource: \S+ with an explicit deny in an identity-based policy$/);
  });

  const deny = (action: string, resource: string) =>
    authorize(caller, [{ action, resource }]) ?? expect.unreachable('allowed');

  it.each([
    [
      'dynamodb',
      'dynamodb:PutItem',
      400,
      'com.amazonaws.dynamodb.v20120810#AccessDeniedException',
      'dynamodb:PutItem',
    ],
    [
      'secretsmanager',
      'secretsmanager:GetSecretValue',
      400,
      'AccessDeniedException',
      'secretsmanager:GetSecretValue',
    ],
    ['sqs', 'sqs:SendMessage', 403, 'com.amazonaws.sqs#AccessDenied', 'sqs:sendmessage'],
    ['sqs', 'kms:GenerateDataKey', 400, 'com.amazonaws.sqs#KMS.AccessDeniedException', 'kms:GenerateDataKey'],
  ] as const)('%s answers %s with %i %s', (service, action, status, type, spelled) => {
    const response = denialResponse(service, deny(action, TABLE), 'req-1');
    expect(response.status).toBe(status);
    const body = JSON.parse(response.body) as Record<string, string>;
    expect(body.__type).toBe(type);
    expect(body.Message ?? body.message).toContain(`is not authorized to perform: ${spelled} on resource`);
  });

  it.each([
    ['lambda', 'lambda:InvokeFunction'],
    ['execute-api', 'execute-api:ManageConnections'],
  ] as const)('%s answers 403 AccessDeniedException in x-amzn-errortype', (service, action) => {
    const response = denialResponse(service, deny(action, TABLE), 'req-2');
    expect(response.status).toBe(403);
    expect(response.headers['x-amzn-errortype']).toBe('AccessDeniedException');
    expect((JSON.parse(response.body) as { Message: string }).Message).toContain(action);
  });

  it('SNS answers 403 AuthorizationError in its XML, spelling the action SNS:Publish', () => {
    const response = denialResponse(
      'sns',
      deny('sns:Publish', 'arn:aws:sns:us-east-1:000000000000:t'),
      'req-3',
    );
    expect(response.status).toBe(403);
    expect(response.body).toContain('<Code>AuthorizationError</Code>');
    expect(response.body).toContain('is not authorized to perform: SNS:Publish on resource');
    expect(response.body).toContain('<RequestId>req-3</RequestId>');
  });
});
