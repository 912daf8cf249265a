/**
 * The CDK app behind `npx cdk synth|deploy`: one PushStack per stage (`PushStack-prod`,
 * `PushStack-dev`, or `-c push:stackName=…`), checked by cdk-nag on every synth (infra/stage.ts).
 */
import { App } from 'aws-cdk-lib';
import { addPushStack } from './stage';

addPushStack(new App());
