import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';
import { PushStack } from '../../infra/push-stack';
import { PushTables } from '../../infra/tables';
import {
  CONNECTIONS_TABLE,
  INDEX,
  LOG_ATTR,
  MESSAGES_TABLE,
  PUBLISHES_TABLE,
  REVOCATION_PK,
  SK,
  STREAM,
  TABLES,
} from '../../lambdas/shared/tables';
import { getAtt, logicalId, statementsOf, synth } from './helpers';

const { stack, template } = synth();
const connections = () =>
  template.findResources('AWS::DynamoDB::GlobalTable')[logicalId(stack.tables.table(CONNECTIONS_TABLE))];

describe('tables', () => {
  it('creates one table per shared definition', () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', TABLES.length);
  });

  it.each(TABLES.map((def) => [def.id, def] as const))(
    'keys the %s table as its definition says',
    (_id, def) => {
      const table = template.findResources('AWS::DynamoDB::GlobalTable')[logicalId(stack.tables.table(def))];
      const keys = [{ AttributeName: def.partitionKey.name, KeyType: 'HASH' }];
      if (def.sortKey !== undefined) keys.push({ AttributeName: def.sortKey.name, KeyType: 'RANGE' });
      expect(table?.Properties.KeySchema).toEqual(keys);
    },
  );

  it.each(TABLES.map((def) => [def.id, def] as const))('bills the %s table on demand', (_id, def) => {
    const table = template.findResources('AWS::DynamoDB::GlobalTable')[logicalId(stack.tables.table(def))];
    expect(table?.Properties.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('expires connection records on the expiresAt attribute', () => {
    expect(connections()?.Properties.TimeToLiveSpecification).toEqual({
      AttributeName: 'expiresAt',
      Enabled: true,
    });
  });

  it('has the byUid, byTopic and byShard GSIs with the shared keys', () => {
    expect(connections()?.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: INDEX.byUid,
        KeySchema: [{ AttributeName: 'uid', KeyType: 'HASH' }],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: INDEX.byTopic,
        KeySchema: [
          { AttributeName: 'topic', KeyType: 'HASH' },
          { AttributeName: 'topicShard', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: INDEX.byShard,
        KeySchema: [{ AttributeName: 'shard', KeyType: 'HASH' }],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
  });

  it('declares the GSI key attributes with their shared types', () => {
    expect(connections()?.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'uid', AttributeType: 'S' },
        { AttributeName: 'topic', AttributeType: 'S' },
        { AttributeName: 'topicShard', AttributeType: 'N' },
        { AttributeName: 'shard', AttributeType: 'N' },
      ]),
    );
  });

  it.each(TABLES.map((def) => [def.id, def] as const))(
    'turns on point-in-time recovery for %s',
    (_id, def) => {
      const table = template.findResources('AWS::DynamoDB::GlobalTable')[logicalId(stack.tables.table(def))];
      expect(table?.Properties.Replicas[0].PointInTimeRecoverySpecification).toEqual({
        PointInTimeRecoveryEnabled: true,
      });
    },
  );

  it('retains every table, with deletion protection, by default', () => {
    const tables = Object.values(template.findResources('AWS::DynamoDB::GlobalTable'));
    expect(tables.map((table) => table.DeletionPolicy)).toEqual(TABLES.map(() => 'Retain'));
    expect(tables.map((table) => table.Properties.Replicas[0].DeletionProtectionEnabled)).toEqual(
      TABLES.map(() => true),
    );
  });

  it('destroys the tables when push:removeOnDelete is "true" on the command line', () => {
    const { template: dev } = synth({}, { 'push:stage': 'dev', 'push:removeOnDelete': 'true' });
    const tables = Object.values(dev.findResources('AWS::DynamoDB::GlobalTable'));
    expect(tables.map((table) => table.DeletionPolicy)).toEqual(TABLES.map(() => 'Delete'));
    expect(tables.map((table) => table.Properties.Replicas[0].DeletionProtectionEnabled)).toEqual(
      TABLES.map(() => false),
    );
  });

  it('lets the removeOnDelete prop override the context', () => {
    const { template: kept } = synth(
      { removeOnDelete: false },
      { 'push:stage': 'dev', 'push:removeOnDelete': true },
    );
    kept.allResources('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain' });
  });

  it('refuses a removeOnDelete context that is not a boolean', () => {
    expect(() => synth({}, { 'push:removeOnDelete': 'yes' })).toThrow(
      'context push:removeOnDelete must be true or false, got "yes"',
    );
  });

  it('binds every table to a function, so no push:unboundTable warning is left', () => {
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('unboundTable'));
    expect(warnings).toEqual([]);
  });

  it('still warns about a table no function is bound to', () => {
    const lone = new Stack(new App({ builtinCloudFormationValidation: false }), 'Lone');
    new PushTables(lone, 'Tables', { definitions: [PUBLISHES_TABLE] }).warnUnbound();
    Annotations.fromStack(lone).hasWarning('*', Match.stringLikeRegexp('unboundTable'));
  });

  it("encrypts the message log, which holds message bodies, with the stack's message key", () => {
    const messages = template.findResources('AWS::DynamoDB::GlobalTable')[
      logicalId(stack.tables.table(MESSAGES_TABLE))
    ];
    expect(messages?.Properties.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS' });
    expect(messages?.Properties.Replicas).toEqual([
      expect.objectContaining({
        Region: { Ref: 'AWS::Region' },
        SSESpecification: { KMSMasterKeyId: getAtt(stack.messageKey, 'Arn') },
      }),
    ]);
  });

  it.each([CONNECTIONS_TABLE, PUBLISHES_TABLE])(
    "leaves the %s table, which holds no bodies, on DynamoDB's own key",
    (def) => {
      const table = template.findResources('AWS::DynamoDB::GlobalTable')[logicalId(stack.tables.table(def))];
      expect(table?.Properties.SSESpecification).toBeUndefined();
    },
  );

  it('refuses a query grant on an index the table does not have', () => {
    const { stack: other } = synth();
    expect(() =>
      other.tables.bind(other.publishFunction, CONNECTIONS_TABLE, { actions: [], queries: ['byNothing'] }),
    ).toThrow('table Connections has no index byNothing to grant queries on');
  });

  it('narrows a grant to the partition keys it names', () => {
    const app = new App({
      builtinCloudFormationValidation: false,
      context: { 'aws:cdk:bundling-stacks': [] },
    });
    const other = new PushStack(app, 'Push');
    other.tables.bind(other.workerFunction, MESSAGES_TABLE, {
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      leadingKeys: [STREAM.topic('*'), 'uid#?'],
    });
    expect(statementsOf(Template.fromStack(other), other.workerFunction.role as IRole)).toContainEqual({
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Resource: getAtt(other.tables.table(MESSAGES_TABLE), 'Arn'),
      Condition: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['topic#*', 'uid#?'] },
        Null: { 'dynamodb:LeadingKeys': 'false' },
      },
    });
  });

  it('refuses a grant narrowed to no partition key at all', () => {
    const { stack: other } = synth();
    expect(() =>
      other.tables.bind(other.workerFunction, MESSAGES_TABLE, {
        actions: ['dynamodb:GetItem'],
        leadingKeys: [],
      }),
    ).toThrow('leadingKeys needs at least one pattern: none would allow no call');
  });

  it('lets CloudFormation name the tables, so two stages can share an account', () => {
    template.allResourcesProperties('AWS::DynamoDB::GlobalTable', { TableName: Match.absent() });
  });

  describe("docs/deploy.md's Recovering a table", () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Recovering a table'), doc.indexOf('## Teardown'));

    it('promises the recovery window the tables have: 35 days, the default period', () => {
      expect(section).toContain('(35 days back)');
      for (const table of Object.values(template.findResources('AWS::DynamoDB::GlobalTable'))) {
        expect(
          table.Properties.Replicas[0].PointInTimeRecoverySpecification.RecoveryPeriodInDays,
        ).toBeUndefined();
      }
    });

    it('names the revocation records by the keys the code writes', () => {
      expect(section).toContain(`\`pk\` = \`${REVOCATION_PK('<uid>')}\`, \`sk\` = \`${SK.revocation}\``);
    });

    it('names the message streams and their counter item by the keys the code writes', () => {
      expect(section).toContain(
        `\`${LOG_ATTR.stream}\` = \`${STREAM.uid('<uid>')}\`, or \`${STREAM.topic('<topic>')}\``,
      );
      expect(section).toContain(`counter item (\`${LOG_ATTR.seq}\` = 0)`);
    });
  });
});
