import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';
import { DEPLOYED_HANDLERS, MANAGEMENT_API_METHODS, PushStack, TABLE_GRANTS } from '../../infra/push-stack';
import { type HandlerId, TOKEN_KEY } from '../../lambdas/shared/deployment';
import { CONNECTIONS_TABLE, MESSAGES_TABLE, PUBLISHES_TABLE } from '../../lambdas/shared/tables';
import { actionsOf, getAtt, ref, type Statement, statementsOf, synth } from './helpers';

const { stack, template } = synth();
type Handler = HandlerId;
const handlers = [...DEPLOYED_HANDLERS];
const roleOf = (handler: Handler) => stack.functions[handler].role as Role;

const connectionsArn = getAtt(stack.tables.table(CONNECTIONS_TABLE), 'Arn');
const messagesArn = getAtt(stack.tables.table(MESSAGES_TABLE), 'Arn');
const publishesArn = getAtt(stack.tables.table(PUBLISHES_TABLE), 'Arn');
const shardQueueArn = getAtt(stack.shardFanOut.queue, 'Arn');
const shardDeadLetterQueueArn = getAtt(stack.shardFanOut.deadLetterQueue, 'Arn');
const failureQueueArn = getAtt(stack.publishIngress.invokeFailureQueue, 'Arn');
const keyArn = getAtt(stack.messageKey, 'Arn');
const index = (name: string) => ({ 'Fn::Join': ['', [connectionsArn, `/index/${name}`]] });
const via = (service: string) => ({
  StringEquals: {
    'kms:ViaService': {
      'Fn::Join': ['', [`${service}.`, { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]],
    },
  },
});
const connections = (method: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':execute-api:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':',
      ref(stack.api),
      `/prod/${method}/@connections/*`,
    ],
  ],
});

/** POST and DELETE on the stage's connections: every role that delivers. */
const deliveries: Statement = {
  Effect: 'Allow',
  Action: 'execute-api:ManageConnections',
  Resource: [connections('POST'), connections('DELETE')],
};
/** What SQS needs of a sender's role to encrypt a message with the message key. */
const sqsSenderKey: Statement = {
  Effect: 'Allow',
  Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
  Resource: keyArn,
  Condition: via('sqs'),
};

/** Every statement of a role but its own log group's and X-Ray's, which every role has alike. */
function grantsOf(handler: Handler): Statement[] {
  return statementsOf(template, roleOf(handler)).filter(
    (s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')),
  );
}

function allStatements(): { where: string; statement: Statement }[] {
  const found: { where: string; statement: Statement }[] = [];
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement) found.push({ where: id, statement });
  }
  for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const policy of role.Properties.Policies ?? []) {
      for (const statement of policy.PolicyDocument.Statement) found.push({ where: id, statement });
    }
  }
  return found;
}

/**
 * Each role's grants, written out literally: what each handler's code calls and nothing more, so
 * a grant added anywhere (a Scan, a GetConnection, another index) fails here until it is argued
 * for. The local stack enforces these same statements, so a missing one fails its tests first.
 */
const EXPECTED: Record<Handler, Statement[]> = {
  authorizer: [
    // Revocation records only: no connection record (uids, topics, source IPs) is the authorizer's
    // to read. The Null guard: ForAllValues alone holds for a call that names no partition key.
    {
      Effect: 'Allow',
      Action: 'dynamodb:GetItem',
      Resource: connectionsArn,
      Condition: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['revoked#*'] },
        Null: { 'dynamodb:LeadingKeys': 'false' },
      },
    },
    { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref(stack.tokenSecret) },
  ],
  connect: [
    {
      Effect: 'Allow',
      Action: [
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:GetItem',
      ],
      Resource: connectionsArn,
    },
    { Effect: 'Allow', Action: 'dynamodb:Query', Resource: index('byUid') },
    deliveries,
  ],
  disconnect: [
    {
      Effect: 'Allow',
      Action: ['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      Resource: connectionsArn,
    },
  ],
  default: [
    {
      Effect: 'Allow',
      Action: [
        'dynamodb:UpdateItem',
        'dynamodb:PutItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:BatchWriteItem',
        'dynamodb:GetItem',
      ],
      Resource: connectionsArn,
    },
    // A uid closed for flooding: its connections, through the uid index.
    { Effect: 'Allow', Action: 'dynamodb:Query', Resource: index('byUid') },
    { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: messagesArn },
    { Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn, Condition: via('dynamodb') },
    deliveries,
  ],
  publish: [
    {
      Effect: 'Allow',
      Action: [
        'dynamodb:Query',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:UpdateItem',
        'dynamodb:GetItem',
      ],
      Resource: connectionsArn,
    },
    {
      Effect: 'Allow',
      Action: 'dynamodb:Query',
      Resource: [index('byUid'), index('byTopic'), index('byShard')],
    },
    {
      Effect: 'Allow',
      Action: ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      Resource: messagesArn,
    },
    { Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn, Condition: via('dynamodb') },
    {
      Effect: 'Allow',
      Action: [
        'dynamodb:UpdateItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:GetItem',
        'dynamodb:DeleteItem',
      ],
      Resource: publishesArn,
    },
    { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: shardQueueArn },
    sqsSenderKey,
    deliveries,
    { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: failureQueueArn },
  ],
  worker: [
    {
      Effect: 'Allow',
      Action: ['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      Resource: connectionsArn,
    },
    { Effect: 'Allow', Action: 'dynamodb:Query', Resource: [index('byTopic'), index('byShard')] },
    { Effect: 'Allow', Action: ['dynamodb:UpdateItem', 'dynamodb:Query'], Resource: publishesArn },
    {
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      Resource: shardQueueArn,
    },
    // A run that stops before its timeout sends the rest of its shard to the shard queue again.
    { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: shardQueueArn },
    // A failed job's message is hidden for a backoff before its failure is answered.
    { Effect: 'Allow', Action: 'sqs:ChangeMessageVisibility', Resource: shardQueueArn },
    // A malformed shard job goes straight to the dead-letter queue, encrypted with the message key.
    { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: shardDeadLetterQueueArn },
    sqsSenderKey,
    deliveries,
  ],
  rotateSecret: [
    {
      Effect: 'Allow',
      Action: [
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecretVersionStage',
      ],
      Resource: ref(stack.tokenSecret),
    },
    // GetRandomPassword acts on no resource, so IAM accepts nothing narrower than "*".
    { Effect: 'Allow', Action: 'secretsmanager:GetRandomPassword', Resource: '*' },
  ],
};

describe('each role grants exactly what its handler calls', () => {
  it.each(handlers)('the %s role', (handler) => {
    expect(grantsOf(handler)).toEqual(EXPECTED[handler]);
  });

  it('holds no inline policy on any function role besides its default policy', () => {
    for (const handler of handlers) {
      const role = template.findResources('AWS::IAM::Role')[ref(roleOf(handler)).Ref];
      expect(role?.Properties.Policies).toBeUndefined();
    }
  });

  it('never grants Scan, which a publish must not need', () => {
    const scans = allStatements().filter(({ statement }) => actionsOf(statement).includes('dynamodb:Scan'));
    expect(scans).toEqual([]);
  });

  it('grants ManageConnections per method, GET to no one: presence reads the table', () => {
    const grants = allStatements()
      .filter(({ statement }) => actionsOf(statement).includes('execute-api:ManageConnections'))
      .flatMap(({ statement }) => [statement.Resource].flat())
      .map((resource) => JSON.stringify(resource));
    expect(grants.filter((r) => r.includes('/GET/') || r.includes('/*/@connections'))).toEqual([]);
  });

  it('conditions every key grant on the service that uses the key', () => {
    const keyGrants = allStatements().filter(({ statement }) =>
      actionsOf(statement).some((a) => a.startsWith('kms:')),
    );
    expect(keyGrants.length).toBeGreaterThan(0);
    for (const { statement } of keyGrants) {
      expect(statement.Condition).toEqual({ StringEquals: { 'kms:ViaService': expect.anything() } });
    }
  });

  it('grants every DynamoDB operation the adapters issue to some role', () => {
    const docToAction: Record<string, string> = {
      Put: 'PutItem',
      Get: 'GetItem',
      Update: 'UpdateItem',
      Delete: 'DeleteItem',
      BatchWrite: 'BatchWriteItem',
      BatchGet: 'BatchGetItem',
      TransactWrite: 'TransactWriteItems',
      TransactGet: 'TransactGetItems',
    };
    const adapters = join(REPO_ROOT, 'lambdas', 'adapters');
    const used = new Set<string>();
    for (const file of readdirSync(adapters)) {
      const source = readFileSync(join(adapters, file), 'utf8');
      if (!/from '@aws-sdk\/(lib|client)-dynamodb'/.test(source)) continue;
      // A command imported under another name (`QueryCommand as ItemQueryCommand`) is still its operation.
      const aliases = new Map(
        [...source.matchAll(/\b(\w+)Command as (\w+)Command\b/g)].map((m) => [
          m[2] as string,
          m[1] as string,
        ]),
      );
      for (const match of source.matchAll(/new (\w+)Command\(/g)) {
        const name = aliases.get(match[1] as string) ?? (match[1] as string);
        used.add(`dynamodb:${docToAction[name] ?? name}`);
      }
    }
    const granted = new Set(handlers.flatMap((h) => EXPECTED[h].flatMap(actionsOf)));
    expect(used.size).toBeGreaterThan(0);
    expect([...granted]).toEqual(expect.arrayContaining([...used]));
  });
});

describe('shard queue access', () => {
  const sqsStatements = (handler: Handler) =>
    statementsOf(template, roleOf(handler)).filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:')));

  const onShardQueue = (handler: Handler) =>
    sqsStatements(handler).filter((s) => JSON.stringify(s.Resource) === JSON.stringify(shardQueueArn));

  it('lets the publish function only send to the shard queue', () => {
    expect(onShardQueue('publish')).toEqual([
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: shardQueueArn },
    ]);
  });

  it("lets the worker consume the shard queue, as its event source's poller does, send a job's rest back to it, set a failed job's backoff there, and send to its DLQ", () => {
    expect(sqsStatements('worker')).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        Resource: shardQueueArn,
      },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: shardQueueArn },
      { Effect: 'Allow', Action: 'sqs:ChangeMessageVisibility', Resource: shardQueueArn },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: shardDeadLetterQueueArn },
    ]);
  });

  it('gives no other function access to the shard queue', () => {
    const holders = handlers.filter((handler) => onShardQueue(handler).length > 0);
    expect(holders).toEqual(['publish', 'worker']);
  });

  it('lets only the worker touch the shard dead-letter queue, and only to send a malformed job there', () => {
    const dlq = JSON.stringify(shardDeadLetterQueueArn);
    const touching = allStatements().filter(({ statement }) => JSON.stringify(statement.Resource) === dlq);
    expect(touching).toEqual([
      {
        where: expect.stringMatching(/^WorkerHandlerRoleDefaultPolicy/),
        statement: { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: shardDeadLetterQueueArn },
      },
    ]);
  });

  it('covers every SQS operation the adapters issue with sqs:SendMessage or sqs:ChangeMessageVisibility', () => {
    const source = readFileSync(join(REPO_ROOT, 'lambdas', 'adapters', 'sqs-queue.ts'), 'utf8');
    const used = new Set([...source.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]));
    // IAM has no SendMessageBatch action: sqs:SendMessage authorizes the batch call.
    expect([...used]).toEqual(['SendMessageBatch', 'ChangeMessageVisibility', 'SendMessage']);
  });
});

describe('token secret', () => {
  const secretStatements = (handler: Handler) =>
    statementsOf(template, roleOf(handler)).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('secretsmanager:')),
    );

  it('is generated by Secrets Manager as the rotation function generates each next key', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: {
        PasswordLength: TOKEN_KEY.length,
        ExcludePunctuation: TOKEN_KEY.excludePunctuation,
      },
    });
  });

  it('is read by the authorizer, and read and written by the rotation function, alone', () => {
    const holders = allStatements()
      .filter(({ statement }) => actionsOf(statement).some((action) => action.startsWith('secretsmanager:')))
      .map(({ where }) => where);
    expect([...new Set(holders)].sort()).toEqual(
      [policyIdOf('authorizer'), policyIdOf('rotateSecret')].sort(),
    );
  });

  it('lets the authorizer only read its value', () => {
    expect(secretStatements('authorizer')).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref(stack.tokenSecret) },
    ]);
  });

  it('lets the rotation function run the four steps on this secret only, and generate keys', () => {
    // Its whole role is Secrets Manager: the literal statements are its EXPECTED grants.
    expect(secretStatements('rotateSecret')).toEqual(EXPECTED.rotateSecret);
  });

  it('covers every Secrets Manager operation the adapters issue', () => {
    const granted = new Set(
      [...secretStatements('authorizer'), ...secretStatements('rotateSecret')].flatMap(actionsOf),
    );
    const adapters = join(REPO_ROOT, 'lambdas', 'adapters');
    const used = new Set<string>();
    for (const file of readdirSync(adapters)) {
      const source = readFileSync(join(adapters, file), 'utf8');
      if (!/from '@aws-sdk\/client-secrets-manager'/.test(source)) continue;
      for (const match of source.matchAll(/new (\w+)Command\(/g)) used.add(`secretsmanager:${match[1]}`);
    }
    expect([...used].sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetRandomPassword',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:UpdateSecretVersionStage',
    ]);
    expect([...granted]).toEqual(expect.arrayContaining([...used]));
  });

  it('lets Secrets Manager, and no other principal, invoke the rotation function, for this account only', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (permission) =>
        JSON.stringify(permission.Properties.FunctionName) ===
        JSON.stringify(getAtt(stack.functions.rotateSecret, 'Arn')),
    );
    expect(permissions.map((permission) => permission.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: getAtt(stack.functions.rotateSecret, 'Arn'),
        Principal: 'secretsmanager.amazonaws.com',
        SourceAccount: { Ref: 'AWS::AccountId' },
      },
    ]);
  });
});

function policyIdOf(handler: Handler): string {
  const roleRef = JSON.stringify([ref(roleOf(handler))]);
  const [id] = Object.entries(template.findResources('AWS::IAM::Policy')).find(
    ([, policy]) => JSON.stringify(policy.Properties.Roles) === roleRef,
  ) ?? [''];
  return id;
}

describe('wildcards', () => {
  const wildcardsIn = (t: Template) =>
    Object.entries(t.findResources('AWS::IAM::Policy')).flatMap(([where, policy]) =>
      (policy.Properties.PolicyDocument.Statement as Statement[])
        .filter((statement) => [statement.Resource].flat().includes('*'))
        .map((statement) => ({ where, actions: actionsOf(statement) })),
    );
  const xray = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];

  it('uses Resource "*" only for actions that support no resource-level permissions', () => {
    expect(wildcardsIn(template)).toEqual(
      expect.arrayContaining([
        ...handlers.map((handler) => ({ where: policyIdOf(handler), actions: xray })),
        { where: policyIdOf('rotateSecret'), actions: ['secretsmanager:GetRandomPassword'] },
      ]),
    );
    expect(wildcardsIn(template)).toHaveLength(handlers.length + 1);
  });

  it('needs Resource "*" with tracing off only to generate signing keys', () => {
    const { template: untraced } = synth({ tracing: false });
    expect(wildcardsIn(untraced).map(({ actions }) => actions)).toEqual([
      ['secretsmanager:GetRandomPassword'],
    ]);
  });

  it('attaches no managed policy to any function role', () => {
    for (const handler of handlers) {
      const role = template.findResources('AWS::IAM::Role')[ref(roleOf(handler)).Ref];
      expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('lets each function write only to its own log group', () => {
    for (const handler of handlers) {
      const logs = statementsOf(template, roleOf(handler)).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('logs:')),
      );
      const fn = stack.functions[handler];
      expect(logs).toEqual([
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: getAtt(fn.logGroup, 'Arn'),
        },
      ]);
    }
  });
});

describe('reuse from another stack', () => {
  function consumer() {
    const app = new App({
      builtinCloudFormationValidation: false,
      context: { 'aws:cdk:bundling-stacks': [] },
    });
    const push = new PushStack(app, 'Push');
    const other = new Stack(app, 'Orders');
    const role = new Role(other, 'Backend', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    return { push, other, role };
  }

  function statementsIn(other: Stack): Statement[] {
    return Object.values(Template.fromStack(other).findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
    );
  }

  it('grantPublish lets a backend invoke the publish function and publish to the topic', () => {
    const { push, other, role } = consumer();
    push.grantPublish(role);
    expect(statementsIn(other).flatMap(actionsOf).sort()).toEqual([
      'kms:Decrypt',
      'kms:GenerateDataKey*',
      'lambda:InvokeFunction',
      'sns:Publish',
    ]);
  });

  it('grantTokenSigning lets a backend read the token secret', () => {
    const { push, other, role } = consumer();
    push.grantTokenSigning(role);
    expect(statementsIn(other).flatMap(actionsOf)).toEqual([
      'secretsmanager:GetSecretValue',
      'secretsmanager:DescribeSecret',
    ]);
  });
});

/** One row of docs/security.md's table: DynamoDB actions by table, queried indexes, @connections methods. */
interface DocumentedGrants {
  readonly tables: Map<string, string[]>;
  readonly queries: string[];
  readonly methods: string[];
}

/**
 * docs/security.md's "What each function may do" table, row by row: the DynamoDB actions it names
 * on each table (`GetItem`, `Query` on Messages), the indexes it lets a handler query (`Query` on
 * `byUid`), and the @connections methods (`POST`, `DELETE`) in the other cell.
 */
function securityDocGrants(): Map<string, DocumentedGrants> {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'security.md'), 'utf8');
  const start = doc.indexOf('| Function | DynamoDB | Other |');
  if (start === -1) throw new Error('docs/security.md has no table of what each function may do');
  const rows = doc.slice(start).split('\n\n')[0]?.split('\n').slice(2) ?? [];
  const names = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
  const grants = new Map<string, DocumentedGrants>();
  for (const row of rows) {
    const [, name = '', dynamo = '', other = ''] = row.split('|').map((cell) => cell.trim());
    const tables = new Map<string, string[]>();
    const queries: string[] = [];
    for (const part of dynamo.split(';')) {
      const on = part.indexOf(' on ');
      if (on === -1) continue;
      const [table = '', ...rest] = part
        .slice(on + 4)
        .trim()
        .split(' and ');
      tables.set(table.split(/\s/)[0] ?? '', names(part.slice(0, on)));
      for (const more of rest) queries.push(...names(more.slice(more.indexOf(' on ') + 4)));
    }
    const methods = [...other.matchAll(/`(POST|GET|DELETE)\b/g)].map((m) => m[1] as string);
    grants.set(name.replaceAll('`', '').replace(/^\$/, ''), { tables, queries, methods });
  }
  return grants;
}

describe("docs/security.md's table of what each function may do", () => {
  const documented = securityDocGrants();

  it.each(handlers)('names what the %s role grants on each table and @connections', (handler) => {
    const row = documented.get(handler);
    expect(row, `no row for ${handler}`).toBeDefined();
    const granted = TABLE_GRANTS[handler];
    expect(Object.fromEntries(row?.tables ?? [])).toEqual(
      Object.fromEntries(
        granted.map(({ table, actions }) => [
          table.id,
          actions.map((action) => action.replace('dynamodb:', '')),
        ]),
      ),
    );
    expect(row?.queries).toEqual(granted.flatMap(({ queries }) => queries ?? []));
    expect(row?.methods).toEqual([...(MANAGEMENT_API_METHODS[handler] ?? [])]);
  });
});

describe("docs/deploy.md's diagram", () => {
  it('draws an @connections arrow from every function granted ManageConnections, and only those', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
    const diagram = doc.slice(doc.indexOf('```mermaid'), doc.indexOf('```', doc.indexOf('```mermaid') + 3));
    // Node ids to handlers, from labels such as `C[connect λ]` and `W[worker λ<br/>…]`.
    const handlerOf = new Map([...diagram.matchAll(/(\w+)\[([\w-]+) λ/g)].map((m) => [m[1], m[2]]));
    const arrow = diagram.split('\n').find((line) => line.includes('"@connections'));
    const callers = (arrow?.split(' -- ')[0] ?? '').split('&').map((id) => handlerOf.get(id.trim()));
    expect(callers.sort()).toEqual(Object.keys(MANAGEMENT_API_METHODS).sort());
  });
});
