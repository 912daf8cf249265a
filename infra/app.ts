/**
 * The CDK app behind `npx cdk synth|deploy`: one PushStack, checked by cdk-nag's AWS Solutions
 * rules on every synth, so a new finding fails the build instead of reaching an account.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PushStack } from './push-stack';

const app = new App();
new PushStack(app, 'PushStack', {
  description: 'Serverless real-time push on API Gateway WebSockets (apigw-push)',
  // Unset offline, which synthesizes an environment-agnostic template; `cdk deploy` fills them
  // from the caller's profile.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
