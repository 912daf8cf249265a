/**
 * `npm run smoke`: the post-deploy check, run as a shell runs it against a local stack, with no
 * AWS variable in its environment; and the reading of a deployed stack's outputs, against a
 * mocked CloudFormation.
 */
import { spawn } from 'node:child_process';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { REQUIRED_OUTPUTS, stackTargets } from '../../scripts/smoke';
import { startTestStack } from '../local/helpers';
import { ROOT } from '../packages/pack';
import { type ChildOutput, outputOf } from '../support/output';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

function smoke(args: string[]): Promise<ChildOutput> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && !key.startsWith('PUSH_')) env[key] = value;
  }
  return outputOf(
    spawn(process.execPath, ['--import', 'tsx', 'scripts/smoke.ts', ...args], { cwd: ROOT, env }),
  );
}

/** The report's step lines, as `[verdict, step]`. */
function verdicts(stdout: string): [string, string][] {
  return [...stdout.matchAll(/^ {2}(PASS|FAIL|SKIP) {2}(\S+(?: \S+)*?)(?: {2,}|$)/gm)].map((m) => [
    m[1] as string,
    m[2] as string,
  ]);
}

const STEPS = [
  'mint a token',
  'connect',
  'publish through Lambda Invoke',
  'publish through SNS',
  'presence',
  'kick',
];

describe('npm run smoke --local', () => {
  it('passes every step against a local stack, and exits 0', async () => {
    const result = await smoke(['--local', stack.httpUrl]);
    expect(verdicts(result.stdout)).toEqual(STEPS.map((step) => ['PASS', step]));
    expect(result.stdout).toContain(`smoke check of local stack at ${stack.httpUrl}`);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('smoke check passed');
    expect(result.code).toBe(0);
  });

  it('fails at connect when the token is signed with the wrong secret, says where to look, and exits 1', async () => {
    const result = await smoke(['--local', stack.httpUrl, '--secret', 'not-the-stack-secret']);
    expect(verdicts(result.stdout)).toEqual([
      ['PASS', 'mint a token'],
      ['FAIL', 'connect'],
      ...STEPS.slice(2).map((step) => ['SKIP', step]),
    ]);
    expect(result.stdout).toContain('the handshake was answered 401');
    expect(result.stdout).toContain('look at: a 401 means the authorizer refused the token');
    expect(result.stdout.trim().split('\n').at(-1)).toBe('smoke check FAILED');
    expect(result.code).toBe(1);
  });

  it('exits 1 when nothing answers at the URL, and 2 without a target', async () => {
    const closed = await startTestStack();
    const url = closed.httpUrl;
    await closed.stop();
    const unreachable = await smoke(['--local', url]);
    expect(unreachable.stdout).toContain('FAIL  read the outputs');
    expect(unreachable.code).toBe(1);
    const bare = await smoke([]);
    expect(bare.stderr).toContain('name one of --stack or --local');
    expect(bare.code).toBe(2);
  });
});

describe('the smoke check of a deployed stack', () => {
  const cloudFormation = mockClient(CloudFormationClient);
  const outputs = {
    WebSocketUrl: 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod',
    PublishFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:PushStack-prod-PublishHandler',
    PublishTopicArn: 'arn:aws:sns:eu-west-1:123456789012:PushStack-prod-PublishTopic',
    TokenSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PushTokenSecret-AbC',
  };

  it('finds its way from the stack outputs, in the stack’s region', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'PushStack-prod' }).resolves({
      Stacks: [
        {
          StackName: 'PushStack-prod',
          CreationTime: new Date(0),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    });
    const targets = await stackTargets('PushStack-prod', { cloudFormation: new CloudFormationClient({}) });
    expect(targets.description).toBe('stack PushStack-prod (eu-west-1)');
    expect(targets.wsUrl).toBe(outputs.WebSocketUrl);
    expect(targets.logsOf('authorizer')).toBe(
      "the CloudWatch logs of PushStack-prod's AuthorizerHandler function",
    );
  });

  it('names the outputs a stack lacks', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Other',
          CreationTime: new Date(0),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [{ OutputKey: 'WebSocketUrl', OutputValue: outputs.WebSocketUrl }],
        },
      ],
    });
    await expect(stackTargets('Other', { cloudFormation: new CloudFormationClient({}) })).rejects.toThrow(
      `stack Other has no output ${REQUIRED_OUTPUTS.slice(1).join(', ')}`,
    );
  });
});
