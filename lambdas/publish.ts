import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { idsFrom } from './core/command';
import { type CommandDeps, type CommandResult, runCommand } from './core/commands';
import type { Gateway } from './core/ports';
import { isSnsEvent, runSnsEvent, type SnsSummary } from './core/publish-event';
import { METRICS } from './shared/deployment';
import { ERROR_CODES, type ErrorBody, errorLogFields, isInputError, toErrorBody } from './shared/errors';
import {
  createLogger,
  createMetrics,
  deliveryFromEnv,
  dynamoClientsFromEnv,
  flushMetrics,
  logSettingsFromEnv,
  messageLogFromEnv,
  publishIdsFromEnv,
  revocationsFromEnv,
  shardingFromEnv,
} from './wiring';

const logger = createLogger();
const metrics = createMetrics();
// One client of each kind for every adapter: a push's claim, lookup and counter share connections
// rather than each paying a handshake on the push's path.
const dynamo = dynamoClientsFromEnv();
const delivery = deliveryFromEnv(dynamo);
const logSettings = logSettingsFromEnv();
const log = messageLogFromEnv(dynamo, logSettings);
const sharding = shardingFromEnv(dynamo);
const ids = publishIdsFromEnv(dynamo);

/** A request that was refused for its input; the field names are the README's contract. */
export interface PublishRejection {
  readonly error: ErrorBody;
}

function deliveryFor(publishId: string, gateway: Gateway) {
  return {
    ...delivery,
    gateway,
    log,
    logSettings,
    ...sharding,
    events: {
      retry: (connectionId: string, attempt: number, error: unknown) => {
        metrics.addMetric(METRICS.throttledRetries, MetricUnit.Count, 1);
        logger.debug('delivery retried', { publishId, connectionId, attempt, code: toErrorBody(error).code });
      },
      failed: (connectionId: string, error: unknown) =>
        logger.warn('delivery failed', { publishId, connectionId, code: toErrorBody(error).code }),
      cleanupFailed: (connectionId: string, error: unknown) =>
        logger.warn('stale record not removed', { publishId, connectionId, error }),
    },
  };
}

const commands: Omit<CommandDeps, 'remaining'> = {
  store: delivery.store,
  gateway: delivery.gateway,
  concurrency: delivery.concurrency,
  sendTimeoutMs: delivery.sendTimeoutMs,
  records: sharding.records,
  ...(ids === undefined ? {} : { ids }),
  revocations: revocationsFromEnv(dynamo),
  deliveryFor,
  events: {
    published: (result, ms) => {
      metrics.addMetric(METRICS.publishes, MetricUnit.Count, 1);
      if (result.queued) {
        logger.info('publish queued as shard jobs', { publishId: result.id, shards: result.shards });
        return;
      }
      metrics.addMetric(METRICS.delivered, MetricUnit.Count, result.delivered);
      metrics.addMetric(METRICS.gone, MetricUnit.Count, result.gone);
      metrics.addMetric(METRICS.failed, MetricUnit.Count, result.failed);
      metrics.addMetric(METRICS.stored, MetricUnit.Count, result.stored);
      metrics.addMetric(METRICS.fanOutDuration, MetricUnit.Milliseconds, ms);
      logger.info('published', { publishId: result.id, ...result });
    },
    repeated: (result) => {
      metrics.addMetric(METRICS.repeatedPublishes, MetricUnit.Count, 1);
      logger.info('publish id seen before: answered its first result, sent nothing', {
        publishId: result.id,
      });
    },
    idRecordFailed: (publishId, error) => logger.warn('publish id record not updated', { publishId, error }),
    kicked: (uid, result) => logger.info('kicked', { uid, closed: result.closed }),
    kickRecheckFailed: (error) =>
      logger.warn(
        "a kick's second lookup failed: a connection the uid index did not show yet may stay open",
        errorLogFields(error),
      ),
    revocationStampFailed: (error) =>
      logger.warn(
        "a kick's revocation, answered late, keeps the time its write was sent: a retry of the kick may leave a connection made while it was stored",
        errorLogFields(error),
      ),
    batchItemFailed: (request, index, error) =>
      logger.error('batch item failed', { publishId: request.id, index, ...errorLogFields(error) }),
  },
};

/**
 * The publish Lambda: a publish body, a batch of them, a presence query, a status query or a kick
 * (direct invoke, or the local `POST /publish`), or every record of an SNS event. A publish that
 * brings no `id` gets one from the SNS message id or the Lambda request id, which SNS's and Lambda's
 * own retries of the event keep. Bad input is answered
 * (`{"error":{code,message}}`) or, for SNS, logged and counted; only infrastructure failures
 * throw, so that SNS/Lambda retry and the message ends in the DLQ.
 */
export const handler = async (
  event: unknown,
  context?: Pick<Context, 'awsRequestId'> & Partial<Pick<Context, 'getRemainingTimeInMillis'>>,
): Promise<CommandResult | PublishRejection | SnsSummary> => {
  const remaining = context?.getRemainingTimeInMillis?.bind(context);
  const deps: CommandDeps = { ...commands, ...(remaining === undefined ? {} : { remaining }) };
  try {
    if (isSnsEvent(event)) {
      return await runSnsEvent(event, deps, {
        rejected: (snsMessageId, error) => {
          metrics.addMetric(METRICS.rejectedSnsMessages, MetricUnit.Count, 1);
          logger.warn('SNS message rejected', { snsMessageId, ...errorLogFields(error) });
        },
        failed: (snsMessageId, error) => logger.error('SNS message failed', { snsMessageId, error }),
      });
    }
    try {
      return (await runCommand(event, idsFrom(context?.awsRequestId), deps)).result;
    } catch (error) {
      if (isInputError(error)) {
        metrics.addMetric(METRICS.rejectedRequests, MetricUnit.Count, 1);
        // A body the caller got wrong (bad_request, conflict, payload_too_large) may have come by
        // an asynchronous invoke that answers no one and lands in no failure queue: it shows even
        // at WARN. A status of an unknown id or a presence past its limit is an answer, not a fault.
        const answer = error.code === ERROR_CODES.notFound || error.code === ERROR_CODES.limitExceeded;
        logger[answer ? 'info' : 'warn']('request rejected', errorLogFields(error));
        return { error: toErrorBody(error) };
      }
      throw error;
    }
  } finally {
    flushMetrics(metrics);
  }
};
