import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { SqsDeadLetterQueue, SqsJobQueue } from './adapters/sqs-queue';
import { TokenBucket } from './core/rate';
import { parseShardJob, runShardJob, type ShardJob } from './core/shard-jobs';
import { shardRetryDelaySeconds } from './core/shard-retry';
import { intEnv, nonNegativeIntEnv, requireEnv } from './shared/config';
import { METRICS } from './shared/deployment';
import { ENV } from './shared/env';
import { errorLogFields, toErrorBody } from './shared/errors';
import { LIMITS, perWorkerRate, workerStopMarginMs } from './shared/limits';
import {
  createLogger,
  createMetrics,
  deliveryFromEnv,
  dynamoClientsFromEnv,
  fanOutSettingsFromEnv,
  flushMetrics,
  publishRecordsFromEnv,
  sqsClient,
} from './wiring';

const logger = createLogger();
const metrics = createMetrics();
// One client of each kind for every adapter, as the SQS client below is for both queues.
const dynamo = dynamoClientsFromEnv();
const delivery = deliveryFromEnv(dynamo);
const records = publishRecordsFromEnv(dynamo);
// A job older than the shard queue's age alarm is a redrive, not a backlog: see audienceOf.
const lateAfterMs = nonNegativeIntEnv(ENV.shardJobLateMs, LIMITS.shardJobLateMs);
const sqs = sqsClient();
const deadLetters = new SqsDeadLetterQueue(sqs, requireEnv(ENV.shardDeadLetterQueueUrl));
// A run that stops at its deadline hands the rest of its shard on through its own queue; a failed
// job's message is hidden there for a backoff before it is answered as a failure.
const shardQueue = new SqsJobQueue(sqs, requireEnv(ENV.shardQueueUrl));
// The backoff spreads a failed job's retries over the receives the redrive policy gives it, all
// well within the late threshold: see shardRetryDelaySeconds.
const retrySettings = {
  lateAfterMs,
  maxReceiveCount: intEnv(ENV.shardMaxReceiveCount, LIMITS.shardMaxReceiveCount),
};
/** Time kept, after the backoff is set, for the answer to reach Lambda before the timeout. */
const ANSWER_MARGIN_MS = 1_000;
// The system budget is split over the worker's reserved concurrency, so N workers at full speed
// stay within it by construction rather than by hope.
const rate = perWorkerRate(
  intEnv(ENV.rateBudget, LIMITS.rateBudget),
  intEnv(ENV.workerConcurrency, LIMITS.workerConcurrency),
);
const bucket = new TokenBucket(rate);
const sends = fanOutSettingsFromEnv();
const stopMarginMs = workerStopMarginMs({
  sendAttempts: sends.attempts,
  sendTimeoutMs: sends.timeoutMs,
  concurrency: sends.concurrency,
  ratePerSecond: rate,
});

/**
 * Shard worker: delivers one shard of a big topic or broadcast publish per SQS message. A job
 * that fails on infrastructure is reported as a batch item failure, so SQS retries it (and finally
 * moves it to the DLQ), after a backoff of seconds the worker sets on its message first
 * ({@link retryLater}); a retry resumes after the job's last checkpoint. A job too big for one run
 * stops starting deliveries `workerStopMarginMs` before the invocation's timeout, checkpoints, and
 * is sent to the shard queue again, unchanged (its publish's `ts` still dates it), then answered
 * as done: the next run starts at once from the checkpoint, rather than a visibility timeout later
 * with a receive spent; if that send fails the job is a batch item failure instead, so SQS keeps
 * it. A message that is not a shard job is logged, counted as `MalformedShardJobs` and sent to the
 * DLQ at once, since no retry can cure it, and then answered as done; only if that send fails is
 * it a batch item failure, so SQS keeps it rather than losing it.
 */
export const handler = async (
  event: SQSEvent,
  context?: Partial<Pick<Context, 'getRemainingTimeInMillis'>>,
): Promise<SQSBatchResponse> => {
  const remaining = context?.getRemainingTimeInMillis?.();
  const deadline = remaining === undefined ? undefined : Date.now() + remaining;
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    let job: ShardJob;
    try {
      job = parseShardJob(record.body);
    } catch (error) {
      metrics.addMetric(METRICS.malformedShardJobs, MetricUnit.Count, 1);
      if (!(await deadLetter(record.messageId, record.body, error))) {
        batchItemFailures.push(await retryLater(record, deadline));
      }
      continue;
    }
    try {
      if (!(await runJob(job, deadline))) batchItemFailures.push(await retryLater(record, deadline));
    } catch (error) {
      logger.error('shard job failed', { publishId: job.id, shard: job.shard, error });
      batchItemFailures.push(await retryLater(record, deadline));
    }
  }
  flushMetrics(metrics);
  return { batchItemFailures };
};

/**
 * Answers a record as a batch item failure, its message hidden first for a backoff
 * ({@link shardRetryDelaySeconds}) with ChangeMessageVisibility: SQS hands it out again in seconds,
 * not after the queue's visibility timeout (6 worker timeouts), by which time the job would be
 * late and skip the connections made since its publish. Should that call fail (or not end before
 * the deadline), the failure stands all the same and the visibility timeout applies, as it does
 * to a run cut off by the function's timeout, which never gets here.
 */
async function retryLater(record: SQSRecord, deadline: number | undefined): Promise<SQSBatchItemFailure> {
  metrics.addMetric(METRICS.shardJobRetries, MetricUnit.Count, 1);
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const retryInSeconds = shardRetryDelaySeconds(receiveCount, retrySettings);
  const fields = { messageId: record.messageId, receiveCount, retryInSeconds };
  try {
    await shardQueue.changeVisibility(
      record.receiptHandle,
      retryInSeconds,
      deadline === undefined
        ? {}
        : { abortSignal: AbortSignal.timeout(Math.max(0, deadline - Date.now() - ANSWER_MARGIN_MS)) },
    );
  } catch (error) {
    logger.error('shard job left for the visibility timeout: its retry backoff could not be set', {
      ...fields,
      error,
    });
    return { itemIdentifier: record.messageId };
  }
  logger.info('shard job retries after a backoff', fields);
  return { itemIdentifier: record.messageId };
}

/** Moves a malformed job to the dead-letter queue; false when that failed and SQS must keep it. */
async function deadLetter(messageId: string, body: string, malformed: unknown): Promise<boolean> {
  const { code, reason } = errorLogFields(malformed);
  try {
    await deadLetters.send(body);
  } catch (error) {
    logger.error('malformed shard job left for a retry: the dead-letter queue refused it', {
      messageId,
      code,
      reason,
      error,
    });
    return false;
  }
  logger.error('malformed shard job moved to the dead-letter queue', { messageId, code, reason });
  return true;
}

/**
 * Runs one job; resolves false when it stopped with work left and could not be handed on, so SQS
 * must keep its message.
 */
async function runJob(job: ShardJob, deadline: number | undefined): Promise<boolean> {
  const started = performance.now();
  const result = await runShardJob(job, {
    ...delivery,
    records,
    lateAfterMs,
    ...(deadline === undefined ? {} : { deadline, stopMarginMs }),
    acquire: () => bucket.acquire(),
    events: {
      retry: () => metrics.addMetric(METRICS.throttledRetries, MetricUnit.Count, 1),
      failed: (connectionId, error) =>
        logger.warn('delivery failed', { publishId: job.id, connectionId, code: toErrorBody(error).code }),
    },
  });
  metrics.addMetric(METRICS.delivered, MetricUnit.Count, result.delivered);
  metrics.addMetric(METRICS.gone, MetricUnit.Count, result.gone);
  metrics.addMetric(METRICS.failed, MetricUnit.Count, result.failed);
  metrics.addMetric(METRICS.fanOutDuration, MetricUnit.Milliseconds, performance.now() - started);
  const { outcome, ...counts } = result;
  if (outcome !== 'stopped') {
    logger.info('shard job finished', { publishId: job.id, shard: job.shard, ...result });
    return true;
  }
  try {
    await shardQueue.enqueue([job]);
  } catch (error) {
    logger.error('shard job left for a retry: its continuation could not be queued', {
      publishId: job.id,
      shard: job.shard,
      ...counts,
      error,
    });
    return false;
  }
  metrics.addMetric(METRICS.shardJobsContinued, MetricUnit.Count, 1);
  logger.info('shard job continued', { publishId: job.id, shard: job.shard, ...counts });
  return true;
}
