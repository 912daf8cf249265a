import { readFileSync } from 'node:fs';
import { App, type CfnResource } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { CfnGlobalTable } from 'aws-cdk-lib/aws-dynamodb';
import { describe, expect, it } from 'vitest';
import { PushStack } from '../../infra/push-stack';
import { addPushStack, stackNameFor } from '../../infra/stage';
import { TABLES } from '../../lambdas/shared/tables';

/** The context `npx cdk` reads from cdk.json before any `-c`. */
const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

/**
 * The app a `npx cdk … -c key=value …` command builds: cdk.json's context, then the command line's
 * values, which arrive as strings. Bundling and CloudFormation validation are off (fast).
 */
function appFor(commandLine: Record<string, unknown>): App {
  return new App({
    builtinCloudFormationValidation: false,
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...commandLine },
  });
}

/** What a deploy of the stack would do to its data: each table's deletion policy and protection. */
function tableRemoval(stack: PushStack): { deletionPolicy: string | undefined; protection: unknown }[] {
  return stack.node
    .findAll()
    .filter((c): c is CfnGlobalTable => c instanceof CfnGlobalTable)
    .map((table) => ({
      deletionPolicy: (table as CfnResource).cfnOptions.deletionPolicy,
      protection: stack.resolve(table.replicas)[0].deletionProtectionEnabled,
    }));
}

function stageNameOf(stack: PushStack): string {
  const stage = stack.stage.node.defaultChild as CfnStage;
  return stage.stageName;
}

/**
 * The `npx cdk deploy` lines of a Deploy section (docs/deploy.md's, or the README's), each as the
 * command-line context it passes (`-c key=value`).
 */
function documentedDeploys(file = 'docs/deploy.md', end = '### Moving from'): Record<string, string>[] {
  const doc = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  const start = doc.indexOf('## Deploy\n');
  const section = doc.slice(start, doc.indexOf(end, start));
  return section
    .split('\n')
    .filter((line) => line.startsWith('npx cdk deploy'))
    .map((line) =>
      Object.fromEntries(
        [...(line.split('#')[0] ?? '').matchAll(/-c (\S+?)=(\S+)/g)].map((m) => [m[1], m[2]]),
      ),
    );
}

const PROD = {};
const DEV = { 'push:stage': 'dev', 'push:removeOnDelete': 'true' };

describe('one stack per stage', () => {
  it('deploys `npx cdk deploy` as PushStack-prod, keeping its data', () => {
    const prod = addPushStack(appFor(PROD));
    expect(prod.stackName).toBe('PushStack-prod');
    expect(prod.artifactId).toBe('PushStack-prod');
    expect(stageNameOf(prod)).toBe('prod');
    expect(tableRemoval(prod)).toEqual(TABLES.map(() => ({ deletionPolicy: 'Retain', protection: true })));
  });

  it('deploys the documented dev command as PushStack-dev, a different stack that goes with its data', () => {
    const dev = addPushStack(appFor(DEV));
    const prod = addPushStack(appFor(PROD));
    expect(dev.stackName).toBe('PushStack-dev');
    expect(dev.artifactId).not.toBe(prod.artifactId);
    expect(stageNameOf(dev)).toBe('dev');
    expect(tableRemoval(dev)).toEqual(TABLES.map(() => ({ deletionPolicy: 'Delete', protection: false })));
  });

  it('names each stage’s API after its stack, so prod and dev in one Region are told apart', () => {
    const apiNames = [PROD, DEV].map((commandLine) =>
      Object.values(
        Template.fromStack(addPushStack(appFor(commandLine))).findResources('AWS::ApiGatewayV2::Api'),
      ).map((api) => api.Properties.Name),
    );
    expect(apiNames).toEqual([['PushStack-prod'], ['PushStack-dev']]);
  });

  it('describes each stage’s functions and roles with its service name, so the consoles tell them apart', () => {
    const described = [PROD, DEV].map((commandLine) => {
      const template = Template.fromStack(addPushStack(appFor(commandLine)));
      const publish = Object.values(template.findResources('AWS::Lambda::Function')).map(
        (fn) => fn.Properties.Description as string,
      );
      const roles = Object.values(template.findResources('AWS::IAM::Role')).map(
        (role) => role.Properties.Description as string | undefined,
      );
      return {
        publish: publish.filter((d) => d.endsWith(': publish handler')),
        role: roles.filter((d) => d?.endsWith(' publish handler')),
      };
    });
    expect(described).toEqual([
      { publish: ['push: publish handler'], role: ['Execution role of the push publish handler'] },
      { publish: ['push-dev: publish handler'], role: ['Execution role of the push-dev publish handler'] },
    ]);
  });

  it.each([
    [{}, 'PushStack-prod'],
    [{ 'push:stage': 'dev' }, 'PushStack-dev'],
    [{ 'push:stage': 'staging-eu' }, 'PushStack-staging-eu'],
    [{ 'push:stage': 'dev', 'push:stackName': 'PushStack' }, 'PushStack'],
  ])('names the stack for command-line context %j %s', (commandLine, name) => {
    expect(stackNameFor(appFor(commandLine).node)).toBe(name);
  });

  it('names the stack from push:stackName when given', () => {
    expect(addPushStack(appFor({ 'push:stage': 'dev', 'push:stackName': 'OrdersPush-dev' })).stackName).toBe(
      'OrdersPush-dev',
    );
  });

  it('synthesizes a stack deployed under the old id PushStack as before when push:stackName=PushStack', () => {
    // What infra/app.ts built before stacks followed the stage: logical ids that embed the stack's
    // id (the shard queue's event source mapping) must not change, or the update would replace them.
    const before = appFor({});
    const old = new PushStack(before, 'PushStack', {
      description: 'Serverless real-time push on API Gateway WebSockets (apigw-push)',
    });
    const kept = addPushStack(appFor({ 'push:stackName': 'PushStack' }));
    expect(kept.stackName).toBe('PushStack');
    expect(Template.fromStack(kept).toJSON()).toEqual(Template.fromStack(old).toJSON());
  });

  it('documents a second stage that leaves the account and Region logging role to the first', () => {
    // One AWS::ApiGateway::Account per account and Region: two would take the setting from each other.
    const deploys = documentedDeploys();
    expect(deploys.map((commandLine) => stackNameFor(appFor(commandLine).node))).toEqual([
      'PushStack-prod',
      'PushStack-dev',
      'PushStack-dev',
    ]);
    const accountSettings = deploys.map(
      (commandLine) =>
        Object.keys(
          Template.fromStack(addPushStack(appFor(commandLine))).findResources('AWS::ApiGateway::Account'),
        ).length,
    );
    expect(accountSettings).toEqual([1, 1, 0]);
  });

  it("gives the README's Deploy block docs/deploy.md's commands, so prod and dev side by side leave the logging role to prod", () => {
    // The README showed prod and dev alone: run as written, the dev deploy took the setting from prod.
    expect(documentedDeploys('README.md', '\nEach stage')).toEqual(documentedDeploys());
  });

  it.each([
    ['the prod stage by default', { 'push:removeOnDelete': 'true' }],
    ['an explicit prod stage', { 'push:stage': 'prod', 'push:removeOnDelete': 'true' }],
    ['the old stack name', { 'push:stackName': 'PushStack', 'push:removeOnDelete': 'true' }],
  ])('refuses push:removeOnDelete on %s', (_, commandLine) => {
    expect(() => addPushStack(appFor(commandLine))).toThrow(
      "push:removeOnDelete would delete the prod stage's tables, token secret, key, queues and logs with " +
        'the stack: deploy another stage (-c push:stage=dev), or add -c push:allowProdRemoval=true if ' +
        'this prod stage really is disposable',
    );
  });

  it('refuses removeOnDelete on the prod stage from props too', () => {
    expect(() => new PushStack(appFor({}), 'Push', { removeOnDelete: true })).toThrow(
      /^push:removeOnDelete would delete the prod stage's tables/,
    );
  });

  it("takes a dev stage's removeOnDelete from its block in push:stages, and leaves prod's data retained", () => {
    // In cdk.json, so `npx cdk destroy -c push:stage=dev` takes the dev data with it, as the
    // deploy that made it did, without repeating the flag.
    const stages = { 'push:stages': { dev: { 'push:removeOnDelete': true } } };
    const dev = addPushStack(appFor({ ...stages, 'push:stage': 'dev' }));
    expect(tableRemoval(dev)).toEqual(TABLES.map(() => ({ deletionPolicy: 'Delete', protection: false })));
    const prod = addPushStack(appFor(stages));
    expect(tableRemoval(prod)).toEqual(TABLES.map(() => ({ deletionPolicy: 'Retain', protection: true })));
    // The prod rule holds for a block as for -c.
    expect(() => addPushStack(appFor({ 'push:stages': { prod: { 'push:removeOnDelete': true } } }))).toThrow(
      /^push:removeOnDelete would delete the prod stage's tables/,
    );
  });

  it("refuses a key set both at the top of cdk.json's context and in a stage's block", () => {
    // The top one would win over the block for every stage: the block's value silently unused.
    const file = {
      'push:stage': 'prod',
      'push:removeOnDelete': false,
      'push:stages': { dev: { 'push:removeOnDelete': true } },
    };
    expect(() => stackNameFor(appFor({ 'push:stage': 'dev' }).node, file)).toThrow(
      "push:removeOnDelete is set at the top of cdk.json's context and in push:stages.dev: the top one wins over every stage's, so keep it in one place",
    );
  });

  it('lets push:allowProdRemoval=true turn removal on for the prod stage on purpose', () => {
    const prod = addPushStack(appFor({ 'push:removeOnDelete': 'true', 'push:allowProdRemoval': 'true' }));
    expect(tableRemoval(prod)).toEqual(TABLES.map(() => ({ deletionPolicy: 'Delete', protection: false })));
  });

  it.each([
    ['the prod stage by default', {}, true],
    ['an explicit prod stage', { 'push:stage': 'prod' }, true],
    ['the old stack name', { 'push:stackName': 'PushStack' }, true],
    ['a dev stage', { 'push:stage': 'dev' }, false],
    [
      'a dev stage that takes its data with it',
      { 'push:stage': 'dev', 'push:removeOnDelete': 'true' },
      false,
    ],
    [
      'a prod stage declared disposable',
      { 'push:removeOnDelete': 'true', 'push:allowProdRemoval': 'true' },
      false,
    ],
  ])('asks CloudFormation for termination protection on %s: %s', (_, commandLine, protectedStack) => {
    // A bare `cdk destroy` aims at prod: its URL, API and functions would go, and the next deploy
    // would make new, empty tables beside the retained ones. The CLI reads this from the manifest.
    const app = appFor(commandLine);
    const stack = addPushStack(app);
    expect(
      app.synth({ validateOnSynthesis: false }).getStackByName(stack.stackName).terminationProtection,
    ).toBe(protectedStack);
  });

  it('refuses a stage that cannot name a stack, pointing at push:stackName', () => {
    expect(() => addPushStack(appFor({ 'push:stage': 'my_stage' }))).toThrow(
      'stack name "PushStack-my_stage" must start with a letter and hold only [A-Za-z0-9-] (at most 128): ' +
        'pick one with -c push:stackName=<name>',
    );
    expect(
      addPushStack(appFor({ 'push:stage': 'my_stage', 'push:stackName': 'OrdersPush-my-stage' })).stackName,
    ).toBe('OrdersPush-my-stage');
  });

  it.each([
    [
      { 'push:stage': 'dev', 'push:stackName': 'PushStack-prod' },
      'push:stackName=PushStack-prod is the stack of stage prod, not of push:stage=dev',
    ],
    [
      { 'push:stackName': 'PushStack-dev' },
      'push:stackName=PushStack-dev is the stack of stage dev, not of push:stage=prod',
    ],
    [{ 'push:stage': '' }, 'push:stage is empty (an unset variable in -c push:stage=$…?)'],
    [{ 'push:stage': 'dev', 'push:stackName': '' }, 'push:stackName is empty'],
  ])('refuses %j, which would aim a command at another stack than the stage means', (commandLine, why) => {
    expect(() => stackNameFor(appFor(commandLine).node)).toThrow(why);
  });

  it('takes PushStack-<stage> named for its own stage', () => {
    expect(stackNameFor(appFor({ 'push:stage': 'dev', 'push:stackName': 'PushStack-dev' }).node)).toBe(
      'PushStack-dev',
    );
  });

  it('refuses push:stackName in cdk.json, which every command (a dev deploy, a destroy) would then aim at', () => {
    expect(() =>
      stackNameFor(appFor({ 'push:stage': 'dev' }).node, { 'push:stackName': 'PushStack' }),
    ).toThrow('push:stackName must not be set in cdk.json');
    // The repository's own cdk.json sets none.
    expect(stackNameFor(appFor({ 'push:stage': 'dev' }).node)).toBe('PushStack-dev');
  });
});
