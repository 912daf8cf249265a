import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Node } from 'constructs';
import { DEFAULT_STAGE } from '../lambdas/shared/deployment';
import { CONTEXT, contextString } from './context';
import { PushStack } from './push-stack';

/** What CloudFormation accepts as a stack name. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/**
 * The stack a deploy creates or updates: `PushStack-<stage>` (`PushStack-prod`, `PushStack-dev`),
 * or `push:stackName` when given. The name follows the stage so that deploying another stage never
 * updates (or, with `cdk destroy`, deletes) the prod stack in place.
 *
 * @example
 * stackNameFor(new App({ context: { 'push:stage': 'dev' } }).node); // 'PushStack-dev'
 */
export function stackNameFor(node: Node): string {
  const explicit = contextString(node, CONTEXT.stackName);
  const name = explicit ?? `PushStack-${contextString(node, CONTEXT.stage) ?? DEFAULT_STAGE}`;
  if (!STACK_NAME.test(name)) {
    throw new Error(
      `stack name ${JSON.stringify(name)} must start with a letter and hold only [A-Za-z0-9-] (at most 128)` +
        (explicit === undefined ? `: pick one with -c ${CONTEXT.stackName}=<name>` : ''),
    );
  }
  return name;
}

/**
 * What `npx cdk synth|deploy` builds (infra/app.ts): one {@link PushStack}, named by
 * {@link stackNameFor}, checked by cdk-nag's AWS Solutions rules on every synth so a new finding
 * fails the build instead of reaching an account.
 */
export function addPushStack(app: App): PushStack {
  const stack = new PushStack(app, stackNameFor(app.node), {
    description: 'Serverless real-time push on API Gateway WebSockets (apigw-push)',
    // The CDK CLI sets these from the caller's profile; offline it still sets the Region (from
    // AWS_REGION or the profile, else us-east-1), which `cdk synth` then writes into ARNs and URLs,
    // and `cdk deploy` synthesizes again. Without the CLI (tests, npm start) the stack is
    // environment-agnostic.
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
