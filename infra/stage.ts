import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Node } from 'constructs';
import { DEFAULT_STAGE } from '../lambdas/shared/deployment';
import { CONTEXT, contextString } from './context';
import { PushStack } from './push-stack';

/** The context block of the repository's cdk.json, which the CDK CLI passes to every command. */
function cdkJsonContext(): Readonly<Record<string, unknown>> {
  try {
    const file = JSON.parse(
      readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'cdk.json'), 'utf8'),
    );
    return (file as { context?: Record<string, unknown> }).context ?? {};
  } catch {
    return {};
  }
}

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
export function stackNameFor(
  node: Node,
  fileContext: Readonly<Record<string, unknown>> = cdkJsonContext(),
): string {
  // `-c push:stage=$STAGE` with STAGE unset: not the prod stage the default would make of it.
  for (const key of [CONTEXT.stage, CONTEXT.stackName]) {
    if (node.tryGetContext(key) === '') {
      throw new Error(
        `${key} is empty (an unset variable in -c ${key}=$…?): give it a value, or leave it out for the default`,
      );
    }
  }
  // cdk.json's context goes with every command: a dev deploy or a destroy would aim at that stack.
  if (fileContext[CONTEXT.stackName] !== undefined) {
    throw new Error(
      `${CONTEXT.stackName} must not be set in cdk.json, where every command (a dev deploy, a destroy) would aim at that one stack: pass it with -c on the command that means it`,
    );
  }
  // A key at the top of cdk.json's context wins over every stage's block, so the block's would be
  // a setting silently not applied (an old cdk.json's `push:removeOnDelete: false` beside a dev
  // block that sets it true, say).
  const stages = fileContext[CONTEXT.stages];
  if (typeof stages === 'object' && stages !== null) {
    for (const [stage, block] of Object.entries(stages)) {
      for (const key of typeof block === 'object' && block !== null ? Object.keys(block) : []) {
        if (fileContext[key] !== undefined) {
          throw new Error(
            `${key} is set at the top of cdk.json's context and in ${CONTEXT.stages}.${stage}: the top one wins over every stage's, so keep it in one place`,
          );
        }
      }
    }
  }
  const explicit = contextString(node, CONTEXT.stackName);
  const stage = contextString(node, CONTEXT.stage) ?? DEFAULT_STAGE;
  // PushStack-<stage> is the name another stage's deploy gives its stack: naming one for this
  // stage would update (or destroy) that stage's stack in place.
  const named = explicit === undefined ? undefined : /^PushStack-(.+)$/.exec(explicit)?.[1];
  if (named !== undefined && named !== stage) {
    throw new Error(
      `${CONTEXT.stackName}=${explicit} is the stack of stage ${named}, not of ${CONTEXT.stage}=${stage}: a deploy would turn that stack into this stage, and a destroy would delete it`,
    );
  }
  const name = explicit ?? `PushStack-${stage}`;
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
