/**
 * What a deployed stack must never lose in an update. CloudFormation replaces a resource whose
 * logical id changes (a construct renamed or moved, a table's `id` in lambdas/shared/tables.ts
 * edited) or whose key schema changes: the new one starts empty or with a new address, and the
 * old one is kept (Retain) but no longer used. For the connections table that also drops every
 * uid revocation record, so revoked users get back in; for the token secret it invalidates every
 * token; for the API, function and topic it moves the URL and names clients and backends hold.
 *
 * The ids below are literal on purpose: a change that moves one fails here, and must come with a
 * migration (docs/deploy.md, "Changing a deployed stack") instead of a silent replacement. The
 * stack policy in infra/stack-policy.json makes CloudFormation itself refuse such an update.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';
import { TABLES } from '../../lambdas/shared/tables';
import { logicalId, synth } from './helpers';

const { stack, template } = synth();

/** Resource types that hold data, or whose address lives outside the stack. */
const KEPT_TYPES = [
  'AWS::DynamoDB::GlobalTable',
  'AWS::SQS::Queue',
  'AWS::SecretsManager::Secret',
  'AWS::KMS::Key',
  'AWS::Logs::LogGroup',
  'AWS::ApiGatewayV2::Api',
  'AWS::ApiGatewayV2::Stage',
  'AWS::SNS::Topic',
] as const;

/** Types whose data goes with the resource, so the stack retains them by default. */
const DATA_TYPES = [
  'AWS::DynamoDB::GlobalTable',
  'AWS::SQS::Queue',
  'AWS::SecretsManager::Secret',
  'AWS::KMS::Key',
  'AWS::Logs::LogGroup',
];

const IDS: Record<(typeof KEPT_TYPES)[number], string[]> = {
  'AWS::DynamoDB::GlobalTable': [
    'TablesConnectionsF6D675B1',
    'TablesMessages5F3A57D1',
    'TablesPublishes1A406E17',
  ],
  'AWS::SQS::Queue': [
    'PublishIngressInvokeFailureQueue14D684C7',
    'PublishIngressSubscriptionDeadLetterQueue5C467638',
    'ShardFanOutDeadLetterQueue43A7D3E3',
    'ShardFanOutQueueCFBFC5A6',
  ],
  'AWS::SecretsManager::Secret': ['TokenSecret75569B26'],
  'AWS::KMS::Key': ['MessageKeyE0A8F607'],
  'AWS::Logs::LogGroup': [
    'AuthorizerHandlerLogs5B582C73',
    'ConnectHandlerLogs52E609D7',
    'DefaultHandlerLogs6CA8A4F0',
    'DisconnectHandlerLogsFB21792B',
    'PublishHandlerLogs93942342',
    'RotateSecretHandlerLogs9ABC9FD2',
    'WebSocketAccessLogs9551558C',
    'WorkerHandlerLogsC232E4A6',
  ],
  'AWS::ApiGatewayV2::Api': ['WebSocketApi273F6915'],
  'AWS::ApiGatewayV2::Stage': ['WebSocketStageE8999091'],
  'AWS::SNS::Topic': ['PublishIngressTopicBDE9B66D'],
};

describe('resource identity across updates', () => {
  it.each(KEPT_TYPES)('keeps the logical ids of every %s', (type) => {
    expect(Object.keys(template.findResources(type)).sort()).toEqual(IDS[type]);
  });

  it('keeps the logical id of the publish function, whose name backends hold', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Description: 'push: publish handler' },
    });
    expect(Object.keys(functions)).toEqual(['PublishHandlerFunctionB083148D']);
  });

  it('keeps the key schema of every table, a change of which replaces it', () => {
    const tables = template.findResources('AWS::DynamoDB::GlobalTable');
    expect(Object.values(tables).map((table) => table.Properties.KeySchema)).toEqual([
      [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      [
        { AttributeName: 'stream', KeyType: 'HASH' },
        { AttributeName: 'seq', KeyType: 'RANGE' },
      ],
      [
        { AttributeName: 'id', KeyType: 'HASH' },
        { AttributeName: 'part', KeyType: 'RANGE' },
      ],
    ]);
    expect(TABLES).toHaveLength(3);
  });

  it.each(DATA_TYPES)('retains every %s on deletion and on replacement by default', (type) => {
    const resources = Object.values(template.findResources(type));
    expect(resources.length).toBeGreaterThan(0);
    for (const resource of resources) {
      expect(resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('has infra/stack-policy.json deny replacing or removing every table, queue, the secret and the key', () => {
    const policy = JSON.parse(readFileSync(join(REPO_ROOT, 'infra', 'stack-policy.json'), 'utf8')) as {
      Statement: {
        Effect: string;
        Principal: string;
        Action: string | string[];
        Resource: string | string[];
      }[];
    };
    const guarded = [
      'AWS::DynamoDB::GlobalTable',
      'AWS::SQS::Queue',
      'AWS::SecretsManager::Secret',
      'AWS::KMS::Key',
    ].flatMap((type) => Object.keys(template.findResources(type)));
    expect(policy.Statement).toEqual([
      {
        Effect: 'Deny',
        Principal: '*',
        Action: ['Update:Replace', 'Update:Delete'],
        Resource: expect.arrayContaining(guarded.map((id) => `LogicalResourceId/${id}`)),
      },
      // A stack policy denies every update once set; everything else stays updatable.
      { Effect: 'Allow', Principal: '*', Action: 'Update:*', Resource: '*' },
    ]);
    expect(policy.Statement[0]?.Resource).toHaveLength(guarded.length);
  });

  it("lists in docs/deploy.md's Teardown every resource the message key encrypts, to delete before it", () => {
    const keyArn = JSON.stringify({
      'Fn::GetAtt': [Object.keys(template.findResources('AWS::KMS::Key'))[0], 'Arn'],
    });
    const encrypted = Object.entries({
      ...template.findResources('AWS::DynamoDB::GlobalTable'),
      ...template.findResources('AWS::SQS::Queue'),
    })
      .filter(([, resource]) => JSON.stringify(resource.Properties).includes(keyArn))
      .map(([id]) => id)
      .sort();
    const named = {
      'the message log table': stack.tables.entries().find(([def]) => def.id === 'Messages')?.[1],
      'the shard queue': stack.shardFanOut.queue,
      'the shard dead-letter queue': stack.shardFanOut.deadLetterQueue,
      'the SNS dead-letter queue': stack.publishIngress.subscriptionDeadLetterQueue,
    };
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
    const teardown = doc.slice(doc.indexOf('## Teardown')).replace(/\s+/g, ' ');
    for (const phrase of Object.keys(named)) expect(teardown).toContain(phrase);
    expect(
      Object.values(named)
        .map((construct) => logicalId(construct as IConstruct))
        .sort(),
    ).toEqual(encrypted);
  });

  it('names no resource itself, so stages in one account and Region cannot collide', () => {
    // Properties that fix a physical name when they hold a literal (a Ref to another resource is no name).
    const NAME_PROPERTIES = [
      'TableName',
      'QueueName',
      'TopicName',
      'FunctionName',
      'RoleName',
      'LogGroupName',
      'DashboardName',
      'AlarmName',
      'Name',
      'AliasName',
    ];
    // API Gateway's API names need not be unique (its id is), and stage and authorizer names are the API's own.
    const UNIQUE_BY_ID = new Set([
      'AWS::ApiGatewayV2::Api',
      'AWS::ApiGatewayV2::Stage',
      'AWS::ApiGatewayV2::Authorizer',
    ]);
    const { Resources, Outputs } = template.toJSON() as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
      Outputs: Record<string, { Export?: unknown }>;
    };
    const named = Object.entries(Resources)
      .filter(([, resource]) => !UNIQUE_BY_ID.has(resource.Type))
      .flatMap(([id, resource]) =>
        NAME_PROPERTIES.filter((name) => typeof resource.Properties?.[name] === 'string').map(
          (name) => `${id}.${name}`,
        ),
      );
    expect(named).toEqual([]);
    // An export name is account- and Region-wide too.
    expect(Object.entries(Outputs).filter(([, output]) => output.Export !== undefined)).toEqual([]);
  });
});
