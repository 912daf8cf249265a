import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/shared/env';
import { LIMITS } from '../lambdas/shared/limits';
import { grantKeyThrough } from './key-grants';

/**
 * The source queue's visibility timeout, in worker timeouts. AWS recommends at least six for a
 * Lambda event source, so that a job whose invocation was throttled or retried by Lambda is not
 * handed to a second worker while the first may still run it. A job the worker fails itself comes
 * back far sooner: it sets its message's visibility to a backoff first (`shardRetryDelaySeconds`).
 * Only a run cut off by the timeout (or a crash) waits this out.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** Smallest `maxConcurrency` a Lambda SQS event source accepts. */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;

/** Properties of {@link ShardFanOut}. */
export interface ShardFanOutProps {
  /** Delivers one shard job per invocation; its timeout sets the queue's visibility timeout. */
  readonly worker: LambdaFunction;
  /**
   * Copies of the worker that may run at once: its reserved concurrency. The event source starts
   * no more than this, so the poller never meets a throttle, which would return the job to the
   * queue and spend one of its receives. Lambda's event source cannot be capped below 2, so with 1
   * only the reserved concurrency limits it: raise `maxReceiveCount` to absorb the throttles.
   * @default - no limit on the event source
   */
  readonly workerConcurrency?: number;
  /**
   * Receives of one shard job before it moves to the dead-letter queue. Each failed or timed-out
   * run counts one; a retry resumes after the job's last checkpoint. A run that stops in time and
   * hands its job on counts none: the job goes on as a new message. The worker spreads the
   * backoffs of a failed job's retries over these receives (`PUSH_SHARD_MAX_RECEIVE_COUNT`).
   * @default LIMITS.shardMaxReceiveCount (5)
   */
  readonly maxReceiveCount?: number;
  /** Of both queues. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Customer-managed key of both queues: shard jobs carry the message body.
   * @default SSE-SQS (keys SQS owns)
   */
  readonly encryptionKey?: IKey;
}

/**
 * Sharded fan-out: the SQS queue that a big topic or broadcast publish writes its shard jobs to,
 * the worker consuming it one job per invocation with partial batch responses, and the
 * dead-letter queue where a job lands once SQS has retried it `maxReceiveCount` times, or at once
 * when the worker finds it is not a shard job (the worker sends it there itself).
 *
 * The jobs carry the message body, so both queues take the stack's customer-managed key when
 * given one: the publish role may then generate data keys and decrypt, and so may the worker role
 * (it receives jobs, sends the rest of a shard too big for one run back to the shard queue, and
 * sends malformed ones to the dead-letter queue), each only through SQS (`kms:ViaService`).
 *
 * @example
 * const shards = new ShardFanOut(this, 'Shards', { worker, workerConcurrency: 16 });
 * shards.grantEnqueue(publish);
 * publish.addEnvironment(ENV.shardQueueUrl, shards.queue.queueUrl);
 */
export class ShardFanOut extends Construct {
  /** Shard jobs waiting for a worker. */
  readonly queue: Queue;
  /** Shard jobs that failed `maxReceiveCount` times. */
  readonly deadLetterQueue: Queue;
  readonly #key: IKey | undefined;

  constructor(scope: Construct, id: string, props: ShardFanOutProps) {
    super(scope, id);
    const workerTimeout = props.worker.timeout;
    if (workerTimeout === undefined) throw new Error('the shard worker needs an explicit timeout');
    const maxReceiveCount = props.maxReceiveCount ?? LIMITS.shardMaxReceiveCount;
    // SQS's own range for a redrive policy.
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}`);
    }
    this.#key = props.encryptionKey;
    const queueDefaults = {
      ...(props.encryptionKey === undefined
        ? { encryption: QueueEncryption.SQS_MANAGED }
        : { encryption: QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey }),
      enforceSSL: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };

    // A job keeps its original enqueue time in the DLQ, so the DLQ must keep messages longer than
    // the source queue (4 days, SQS's default) or a late arrival expires there almost at once.
    // cdk-nag's SQS3 sees the redrive policy below and does not ask this queue for a DLQ of its own.
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      ...queueDefaults,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      ...queueDefaults,
      retentionPeriod: Duration.days(4),
      visibilityTimeout: Duration.seconds(workerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    const concurrency = props.workerConcurrency;
    // A mapping of our own rather than SqsEventSource, whose grantConsumeMessages adds
    // ChangeMessageVisibility and GetQueueUrl (which the poller never calls: the worker's own
    // ChangeMessageVisibility is granted below, on its own) and an unconditioned kms:Decrypt on
    // the key.
    props.worker.addEventSourceMapping('ShardQueueSource', {
      eventSourceArn: this.queue.queueArn,
      // One shard per invocation: a job already paces itself with its rate budget share and
      // checkpoints, and a batch would make one slow shard hold up the others.
      batchSize: 1,
      // The worker answers failed jobs as batchItemFailures instead of throwing.
      reportBatchItemFailures: true,
      ...(concurrency !== undefined && concurrency >= MIN_EVENT_SOURCE_CONCURRENCY
        ? { maxConcurrency: concurrency }
        : {}),
    });
    // What Lambda's SQS poller calls with the function's role, as Lambda documents it.
    this.queue.grant(props.worker, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes');
    // A run that stops before its timeout with connections left sends its job to this queue again,
    // so the next run starts from the checkpoint at once, with no receive spent: SendMessage alone
    // (the key grant below covers encrypting it).
    this.queue.grant(props.worker, 'sqs:SendMessage');
    // A failed job's message is hidden for a backoff before the failure is answered, so SQS hands
    // it out again in seconds, not a visibility timeout later; the backoffs are spread over the
    // receives the redrive policy allows, so the worker is told them from the same value.
    this.queue.grant(props.worker, 'sqs:ChangeMessageVisibility');
    props.worker.addEnvironment(ENV.shardQueueUrl, this.queue.queueUrl);
    props.worker.addEnvironment(ENV.shardMaxReceiveCount, String(maxReceiveCount));
    // A malformed job goes to the dead-letter queue at once rather than after every receive: the
    // worker sends it there itself, which needs SendMessage on that queue alone (and, with a
    // customer-managed key, a data key to encrypt it).
    this.deadLetterQueue.grant(props.worker, 'sqs:SendMessage');
    props.worker.addEnvironment(ENV.shardDeadLetterQueueUrl, this.deadLetterQueue.queueUrl);
    if (props.encryptionKey !== undefined) {
      grantKeyThrough(props.encryptionKey, props.worker, 'sqs', ['kms:GenerateDataKey', 'kms:Decrypt']);
    }
  }

  /**
   * Lets `grantee` queue shard jobs: `sqs:SendMessage` alone, which also authorizes
   * SendMessageBatch (the adapter's only call); not `grantSendMessages`, whose
   * GetQueueAttributes and GetQueueUrl it never uses. With a customer-managed key, SQS also
   * generates and decrypts data keys for the sender, through SQS only.
   */
  grantEnqueue(grantee: IGrantable): Grant {
    const grant = this.queue.grant(grantee, 'sqs:SendMessage');
    if (this.#key === undefined) return grant;
    return grant.combine(grantKeyThrough(this.#key, grantee, 'sqs', ['kms:GenerateDataKey', 'kms:Decrypt']));
  }
}
