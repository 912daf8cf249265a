import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { SqsDeadLetterQueue } from './adapters/sqs-queue';
import { perWorkerRate, TokenBucket } from './core/rate';
import { parseShardJob, runShardJob, type ShardJob } from './core/shard-jobs';
import { intEnv, nonNegativeIntEnv, requireEnv } from './shared/config';
import { METRICS } from './shared/deployment';
import { ENV } from './shared/env';
import { errorLogFields, toErrorBody } from './shared/errors';
import { LIMITS } from './shared/limits';
import { createLogger, createMetrics, deliveryFromEnv, flushMetrics, publishRecordsFromEnv } from './wiring';

const logger = createLogger();
const metrics = createMetrics();
const delivery = deliveryFromEnv();
const records = publishRecordsFromEnv();
// A job older than the shard queue's age alarm is a redrive, not a backlog: see audienceOf.
const lateAfterMs = nonNegativeIntEnv(ENV.shardJobLateMs, LIMITS.shardJobLateMs);
// The SDK sends to the queue URL's own host, so the local stack's queue needs no extra setting.
const deadLetters = new SqsDeadLetterQueue(new SQSClient({}), requireEnv(ENV.shardDeadLetterQueueUrl));
// The system budget is split over the worker's reserved concurrency, so N workers at full speed
// stay within it by construction rather than by hope.
const bucket = new TokenBucket(
  perWorkerRate(
    intEnv(ENV.rateBudget, LIMITS.rateBudget),
    intEnv(ENV.workerConcurrency, LIMITS.workerConcurrency),
  ),
);

/**
 * Shard worker: delivers one shard of a big topic or broadcast publish per SQS message. A job
 * that fails on infrastructure is reported as a batch item failure, so SQS retries it (and finally
 * moves it to the DLQ); a retry resumes after the job's last checkpoint. A message that is not a
 * shard job is logged, counted as `MalformedShardJobs` and sent to the DLQ at once, since no retry
 * can cure it, and then answered as done; only if that send fails is it a batch item failure, so
 * SQS keeps it rather than losing it.
 */
export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    let job: ShardJob;
    try {
      job = parseShardJob(record.body);
    } catch (error) {
      metrics.addMetric(METRICS.malformedShardJobs, MetricUnit.Count, 1);
      if (!(await deadLetter(record.messageId, record.body, error))) {
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
      continue;
    }
    try {
      await runJob(job);
    } catch (error) {
      logger.error('shard job failed', { publishId: job.id, shard: job.shard, error });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  flushMetrics(metrics);
  return { batchItemFailures };
};

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

async function runJob(job: ShardJob): Promise<void> {
  const started = performance.now();
  const result = await runShardJob(job, {
    ...delivery,
    records,
    lateAfterMs,
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
  logger.info('shard job finished', { publishId: job.id, shard: job.shard, ...result });
}
