import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import { PushStack, type PushStackProps } from '../../infra/push-stack';

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

interface Finding {
  readonly rule: string;
  readonly path: string;
}

/** Synthesizes with AwsSolutionsChecks and returns every unacknowledged finding. */
function nag(
  props: PushStackProps,
  alter: (stack: PushStack) => void = () => {},
): { app: App; findings: Finding[] } {
  const outdir = mkdtempSync(join(tmpdir(), 'push-nag-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  alter(new PushStack(app, 'Push', props));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
  } catch (error) {
    const report = join(outdir, 'validation-report.json');
    if (!existsSync(report)) throw error;
    const { pluginReports } = JSON.parse(readFileSync(report, 'utf8')) as {
      pluginReports: {
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    return {
      app,
      findings: pluginReports.flatMap((plugin) =>
        plugin.violations.flatMap((v) =>
          v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath })),
        ),
      ),
    };
  }
  return { app, findings: [] };
}

/** Every acknowledgement recorded in the app, with the construct it was made on. */
function acknowledgements(app: App): { scope: IConstruct; id: string; reason: string }[] {
  return app.node.findAll().flatMap((scope) =>
    scope.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .map(([id, reason]) => ({ scope, id, reason })),
  );
}

// Everything optional switched on, so every resource the stack can make is checked.
const { app, findings } = nag({ alarmEmail: 'oncall@example.com' }, () => {});

describe('cdk-nag AwsSolutions', () => {
  it('reports no finding that is not acknowledged', () => {
    expect(findings).toEqual([]);
  });

  it('reports none either once cdk synth knows the account and Region, which changes the ARNs', () => {
    const { findings: located } = nag({ env: { account: '111122223333', region: 'eu-west-1' } });
    expect(located).toEqual([]);
  });

  it('acknowledges exactly the expected rules, each on the resource it concerns', () => {
    const byRule = new Map<string, string[]>();
    for (const { scope, id } of acknowledgements(app)) {
      const rule = id.replace(/^annotation::/i, '').replace(/<[A-Za-z0-9]+(\.Arn)?>/g, '<id>');
      byRule.set(rule, [...(byRule.get(rule) ?? []), scope.node.path].sort());
    }
    const all = ['Authorizer', 'Connect', 'Disconnect', 'Default', 'Publish', 'Worker', 'RotateSecret'];
    const roles = all.map((h) => `Push/${h}Handler/Role`);
    expect(Object.fromEntries(byRule)).toEqual({
      'AwsSolutions-APIG4': ['Push/WebSocket/Api/$default-Route', 'Push/WebSocket/Api/$disconnect-Route'],
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]':
        ['Push/WebSocket/AccountLoggingRole'],
      'AwsSolutions-IAM5[Resource::*]': roles.sort(),
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<id>/prod/POST/@connections/*]':
        [
          'Push/ConnectHandler/Role',
          'Push/DefaultHandler/Role',
          'Push/PublishHandler/Role',
          'Push/WorkerHandler/Role',
        ],
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<id>/prod/DELETE/@connections/*]':
        [
          'Push/ConnectHandler/Role',
          'Push/DefaultHandler/Role',
          'Push/PublishHandler/Role',
          'Push/WorkerHandler/Role',
        ],
      'AwsSolutions-SQS3': [
        'Push/PublishIngress/InvokeFailureQueue',
        'Push/PublishIngress/SubscriptionDeadLetterQueue',
      ],
    });
  });

  it('names GetRandomPassword, the rotation function\'s one other "*", in its role\'s acknowledgement', () => {
    const reasons = acknowledgements(app)
      .filter(({ id }) => id.endsWith('AwsSolutions-IAM5[Resource::*]'))
      .map(({ scope, reason }) => [scope.node.path, reason] as const);
    for (const [path, reason] of reasons) {
      expect(reason).toContain('xray:PutTraceSegments');
      if (path === 'Push/RotateSecretHandler/Role')
        expect(reason).toContain('secretsmanager:GetRandomPassword');
      else expect(reason).not.toContain('secretsmanager:');
    }
  });

  it('needs no acknowledgement of missing rotation (SMG4): the token secret rotates', () => {
    expect(acknowledgements(app).filter(({ id }) => id.includes('SMG4'))).toEqual([]);
  });

  it('acknowledges GetRandomPassword on the rotation role even with tracing off', () => {
    const { findings: untraced } = nag({ tracing: false });
    expect(untraced).toEqual([]);
  });

  it('acknowledges nothing on the app or the stack as a whole', () => {
    const blanket = acknowledgements(app).filter(({ scope }) => scope === app || Stack.isStack(scope));
    expect(blanket).toEqual([]);
  });

  it('gives every acknowledgement a reason of its own', () => {
    for (const { reason } of acknowledgements(app)) expect(reason.length).toBeGreaterThan(80);
  });

  it('still fails on a new wildcard that no acknowledgement covers', () => {
    const { findings: extra } = nag({}, (stack) => {
      stack.publishFunction.addToRolePolicy(
        new PolicyStatement({
          actions: ['dynamodb:*'],
          resources: [stack.tables.entries()[0]?.[1].tableArn as string],
        }),
      );
    });
    expect(extra).toEqual([
      {
        rule: 'AwsSolutions-IAM5[Action::dynamodb:*]',
        path: 'Push/PublishHandler/Role/DefaultPolicy/Resource',
      },
    ]);
  });
});
