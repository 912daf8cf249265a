import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import {
  type Grant,
  type IGrantable,
  type IPrincipal,
  PolicyStatement,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { DestinationConfig, IDestination, IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUOTAS } from '../lambdas/shared/quotas';

/**
 * Lets an AWS service encrypt with `key` on behalf of this account's resources only: the
 * `aws:SourceAccount` condition keeps another account's topic from borrowing the key.
 */
export function admitServiceToKey(key: IKey, service: string): void {
  key.addToResourcePolicy(
    new PolicyStatement({
      principals: [new ServicePrincipal(service)],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(key).account } },
    }),
  );
}

/**
 * An on-failure destination that grants the function `sqs:SendMessage` alone, which is what Lambda
 * sends the record with. CDK's SqsDestination grants `grantSendMessages` (GetQueueAttributes and
 * GetQueueUrl as well).
 */
function sendOnlyQueueDestination(queue: Queue): IDestination {
  return {
    bind(_scope, fn): DestinationConfig {
      queue.grant(fn, 'sqs:SendMessage');
      return { destination: queue.queueArn };
    },
  };
}

/** Properties of {@link PublishIngress}. */
export interface PublishIngressProps {
  /** The function that delivers every published message. */
  readonly publishFunction: IFunction;
  /** Encrypts the topic and the subscription dead-letter queue. */
  readonly encryptionKey: IKey;
  /** Principals (roles, users, accounts) the topic policy lets publish. @default none */
  readonly publishers?: readonly IPrincipal[];
  /**
   * Oldest asynchronous invocation still worth delivering; older ones go to the failure queue.
   * A push hours late is rarely useful, so this is far below Lambda's six hours.
   * @default Duration.hours(1)
   */
  readonly maxEventAge?: Duration;
  /**
   * Times Lambda runs a failed asynchronous invocation again (0 to 2) before it goes to the
   * failure queue; the publish function's idempotency makes a retry deliver once.
   * @default 2
   */
  readonly retryAttempts?: number;
  /** Of the failure queues, which hold undelivered messages. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The asynchronous way in: an SNS topic subscribed by the publish function. SNS → Lambda is an
 * asynchronous invoke, so a message can be lost at two points and each gets a queue:
 * - SNS cannot hand it to Lambda at all (permission removed, function deleted): the
 *   subscription's dead-letter queue receives the SNS message.
 * - Lambda accepted it but the function failed on every retry, or it expired: the function's
 *   on-failure destination receives the event with the error.
 */
export class PublishIngress extends Construct {
  /** The topic backends publish to. */
  readonly topic: Topic;
  /** Messages SNS could not deliver to the function. */
  readonly subscriptionDeadLetterQueue: Queue;
  /** Asynchronous invocations of the function that failed after retries or expired. */
  readonly invokeFailureQueue: Queue;

  constructor(scope: Construct, id: string, props: PublishIngressProps) {
    super(scope, id);
    const key = props.encryptionKey;
    this.topic = new Topic(this, 'Topic', {
      displayName: 'Push publish requests',
      masterKey: key,
      enforceSSL: true,
    });

    const queueDefaults = {
      enforceSSL: true,
      // The largest message SQS takes (1 MiB since 2025). A failure record carries the request's
      // payload, up to Lambda's 1 MB for an asynchronous invoke, and a record the queue refused
      // would be lost (DestinationDeliveryFailures); the older 256 KiB default would refuse
      // every failed publish of big data or a big batch.
      maxMessageSizeBytes: QUOTAS.maxSqsMessageBytes,
      // SQS's maximum: someone has to notice (the alarms) and redrive before it runs out.
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };
    // SNS writes to its dead-letter queue as its own service identity, and documents only
    // customer-managed keys for encrypted DLQs: the key policy admits it below.
    this.subscriptionDeadLetterQueue = new Queue(this, 'SubscriptionDeadLetterQueue', {
      ...queueDefaults,
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: key,
    });
    admitServiceToKey(key, 'sns.amazonaws.com');
    // Lambda writes the on-failure record with the function's role. With SSE-SQS that role needs
    // no key grant at all.
    this.invokeFailureQueue = new Queue(this, 'InvokeFailureQueue', {
      ...queueDefaults,
      encryption: QueueEncryption.SQS_MANAGED,
    });
    for (const queue of [this.subscriptionDeadLetterQueue, this.invokeFailureQueue]) {
      Validations.of(queue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself a dead-letter queue (of the SNS subscription or of the publish ' +
          "function's asynchronous invokes); nothing consumes it automatically, so a DLQ of its own " +
          'would never receive anything.',
      });
    }

    this.topic.addSubscription(
      new LambdaSubscription(props.publishFunction, { deadLetterQueue: this.subscriptionDeadLetterQueue }),
    );
    const retryAttempts = props.retryAttempts ?? 2;
    // CDK checks the range only: 1.5 would fail the deploy, and NaN would become Lambda's default.
    // A token (a CloudFormation parameter, say) is left to CloudFormation, as CDK leaves it.
    if (
      !Token.isUnresolved(retryAttempts) &&
      (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 2)
    ) {
      throw new Error(`publishRetryAttempts must be 0, 1 or 2, got ${retryAttempts}`);
    }
    props.publishFunction.configureAsyncInvoke({
      onFailure: sendOnlyQueueDestination(this.invokeFailureQueue),
      retryAttempts,
      maxEventAge: props.maxEventAge ?? Duration.hours(1),
    });

    for (const principal of props.publishers ?? []) this.grantPublish(principal);
  }

  /** Lets `grantee` publish to the topic (and use its key); a resource policy for foreign principals. */
  grantPublish(grantee: IGrantable): Grant {
    return this.topic.grantPublish(grantee);
  }
}
