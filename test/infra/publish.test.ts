import { Lazy } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { ArnPrincipal } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { getAtt, logicalId, ref, synth } from './helpers';

const { stack, template } = synth();
const ingress = stack.publishIngress;

describe('publish topic', () => {
  it('is subscribed by the publish function with a dead-letter queue', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: ref(stack.publishTopic),
      Endpoint: getAtt(stack.publishFunction, 'Arn'),
      RedrivePolicy: { deadLetterTargetArn: getAtt(ingress.subscriptionDeadLetterQueue, 'Arn') },
    });
  });

  it('lets only this topic put messages into the dead-letter queue', () => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(ingress.subscriptionDeadLetterQueue)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { Service: 'sns.amazonaws.com' },
            Resource: getAtt(ingress.subscriptionDeadLetterQueue, 'Arn'),
            Condition: { ArnEquals: { 'aws:SourceArn': ref(stack.publishTopic) } },
          },
        ]),
      },
    });
  });

  it('sends asynchronous invokes that fail after two retries, or age past an hour, to the failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(stack.publishFunction),
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: getAtt(ingress.invokeFailureQueue, 'Arn') } },
    });
  });

  it.each([1.5, Number.NaN, -1, 3])('refuses publishRetryAttempts %s at synth', (publishRetryAttempts) => {
    // CDK checks the range only: 1.5 failed the deploy, and NaN became Lambda's default of 2.
    expect(() => synth({ publishRetryAttempts })).toThrow(
      `publishRetryAttempts must be 0, 1 or 2, got ${publishRetryAttempts}`,
    );
  });

  it('leaves a publishRetryAttempts token for CloudFormation to check, as CDK does', () => {
    const { template: tokened } = synth({ publishRetryAttempts: Lazy.number({ produce: () => 1 }) });
    tokened.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 1 });
  });

  it('keeps failed messages for the 14 days SQS allows, encrypted, up to the 1 MiB SQS takes', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    expect(queues[logicalId(ingress.subscriptionDeadLetterQueue)]?.Properties).toEqual({
      MessageRetentionPeriod: 1_209_600,
      MaximumMessageSize: 1_048_576,
      KmsMasterKeyId: getAtt(stack.messageKey, 'Arn'),
    });
    expect(queues[logicalId(ingress.invokeFailureQueue)]?.Properties).toEqual({
      MessageRetentionPeriod: 1_209_600,
      MaximumMessageSize: 1_048_576,
      SqsManagedSseEnabled: true,
    });
  });

  it('keeps the failure queues when the stack is deleted', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    const failureQueues = [ingress.subscriptionDeadLetterQueue, ingress.invokeFailureQueue];
    expect(failureQueues.map((queue) => queues[logicalId(queue)]?.DeletionPolicy)).toEqual([
      'Retain',
      'Retain',
    ]);
  });

  it('encrypts the topic with the message key and refuses publishes without TLS', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: getAtt(stack.messageKey, 'Arn') });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref(stack.publishTopic)],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Principal: '*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      },
    });
  });

  it('lets SNS use the message key for this account only', () => {
    const key = template.findResources('AWS::KMS::Key')[logicalId(stack.messageKey)];
    expect(key?.Properties.EnableKeyRotation).toBe(true);
    expect(key?.Properties.KeyPolicy.Statement).toContainEqual({
      Effect: 'Allow',
      Principal: { Service: 'sns.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Resource: '*',
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    });
  });

  it('lets the named publishers publish through the topic policy', () => {
    const publisher = 'arn:aws:iam::111122223333:role/orders';
    const { stack: named, template: withPublishers } = synth({ publishers: [new ArnPrincipal(publisher)] });
    withPublishers.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sns:Publish',
            Principal: { AWS: publisher },
            Resource: ref(named.publishTopic),
          }),
        ]),
      },
    });
  });

  it('lets the named publishers encrypt with the topic key, which SNS requires of publishers', () => {
    const publisher = 'arn:aws:iam::111122223333:role/orders';
    const { stack: named, template: withPublishers } = synth({ publishers: [new ArnPrincipal(publisher)] });
    const key = withPublishers.findResources('AWS::KMS::Key')[logicalId(named.messageKey)];
    expect(key?.Properties.KeyPolicy.Statement).toContainEqual({
      Effect: 'Allow',
      Principal: { AWS: publisher },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Resource: '*',
    });
  });

  it('reads the publishers from the push:publisherArns context, comma-separated', () => {
    const arns = ['arn:aws:iam::111122223333:role/a', 'arn:aws:iam::111122223333:role/b'];
    const { template: fromContext } = synth({}, { 'push:publisherArns': arns.join(', ') });
    const statements = Object.values(fromContext.findResources('AWS::SNS::TopicPolicy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement,
    );
    const principals = statements
      .filter((statement: { Effect: string }) => statement.Effect === 'Allow')
      .map((statement: { Principal: { AWS: string } }) => statement.Principal.AWS);
    expect(principals).toEqual(arns);
  });

  it('lets nobody but the account publish when no publishers are named', () => {
    const statements = Object.values(template.findResources('AWS::SNS::TopicPolicy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement,
    );
    expect(statements.filter((statement: { Effect: string }) => statement.Effect === 'Allow')).toEqual([]);
  });
});
