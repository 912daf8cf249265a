import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { type KickResult, kick, type PresenceResult, presence } from './core/admin';
import { orderKeys, runInBatchOrder } from './core/batch';
import { type IdSource, idsFrom, parseCommand } from './core/command';
import type { Gateway } from './core/ports';
import { type DeliveryDeps, limitSends, type PublishResult, publish } from './core/publish';
import { isSnsEvent } from './core/publish-event';
import type { PublishRequest } from './core/publish-request';
import type { PublishStatus, QueuedResult } from './core/shard-jobs';
import {
  type ErrorBody,
  errorLogFields,
  isRetryable,
  PushError,
  toErrorBody,
  UnavailableError,
} from './shared/errors';
import { LIMITS, METRICS } from './shared/names';
import {
  createLogger,
  createMetrics,
  deliveryFromEnv,
  flushMetrics,
  logSettingsFromEnv,
  messageLogFromEnv,
  shardingFromEnv,
} from './shared/runtime';

const logger = createLogger();
const metrics = createMetrics();
const delivery = deliveryFromEnv();
const { store } = delivery;
const logSettings = logSettingsFromEnv();
const log = messageLogFromEnv(logSettings);
const sharding = shardingFromEnv();

/** A request that was refused for its input; the field names are the README's contract. */
export interface PublishRejection {
  readonly error: ErrorBody;
}

/** What an SNS invocation reports (only visible in logs and tests: SNS ignores return values). */
export interface SnsSummary {
  readonly results: (PublishResult | QueuedResult)[];
  readonly rejected: number;
}

/** What a batch answers: each publish's own result, in the batch's order. */
export interface BatchResult {
  readonly results: (PublishResult | QueuedResult)[];
}

export type CommandResult =
  | PublishResult
  | QueuedResult
  | BatchResult
  | PublishStatus
  | PresenceResult
  | KickResult;

function deliveryDeps(publishId: string, gateway: Gateway = delivery.gateway): DeliveryDeps {
  return {
    ...delivery,
    gateway,
    events: {
      retry: (connectionId, attempt, error) => {
        metrics.addMetric(METRICS.throttledRetries, MetricUnit.Count, 1);
        logger.debug('delivery retried', { publishId, connectionId, attempt, code: toErrorBody(error).code });
      },
      failed: (connectionId, error) =>
        logger.warn('delivery failed', { publishId, connectionId, code: toErrorBody(error).code }),
      cleanupFailed: (connectionId, error) =>
        logger.warn('stale record not removed', { publishId, connectionId, error }),
    },
  };
}

/** Milliseconds left before the invocation times out; unbounded without a Lambda context. */
type Remaining = () => number;

async function run(body: unknown, ids: IdSource, remaining: Remaining): Promise<CommandResult> {
  const command = parseCommand(body, ids);
  const now = Date.now();
  switch (command.kind) {
    case 'presence':
      return presence(command.query, store, now);
    case 'kick': {
      const result = await kick(command.uid, command.reason, deliveryDeps(`kick:${command.uid}`), now);
      logger.info('kicked', { uid: command.uid, closed: result.closed });
      return result;
    }
    case 'status': {
      if (sharding.records === undefined) throw new UnavailableError('sharded publishes are not configured');
      const status = await sharding.records.status(command.id);
      if (status === undefined) throw new PushError('not_found', `no sharded publish with id ${command.id}`);
      return status;
    }
    case 'publish':
      return publishOne(command.request);
    case 'batch': {
      // One bound on posts in flight for the whole batch, the one a single publish has: ten
      // fan-outs of their own would queue ten times the posts on the same sockets, and the send
      // timeout counts the wait for a socket.
      const gateway = limitSends(delivery.gateway, delivery.concurrency ?? LIMITS.fanoutConcurrency);
      const results = await runInBatchOrder(
        command.requests,
        (request) => orderKeys(request.to),
        LIMITS.batchConcurrency,
        async (request, index) => {
          try {
            // An item that waited behind others may find the invocation almost out of time:
            // it is not started, and the invocation fails so that the whole batch is retried.
            const left = remaining();
            if (left < LIMITS.batchStartMarginMs) {
              throw new UnavailableError(
                `batch[${index}] not started: ${Math.round(left)} ms of the function's timeout left`,
              );
            }
            return await publishOne(request, gateway);
          } catch (error) {
            logger.error('batch item failed', { publishId: request.id, index, ...errorLogFields(error) });
            throw error;
          }
        },
      );
      return { results };
    }
  }
}

async function publishOne(
  request: PublishRequest,
  gateway: Gateway = delivery.gateway,
): Promise<PublishResult | QueuedResult> {
  const started = performance.now();
  const result = await publish(request, {
    ...deliveryDeps(request.id, gateway),
    log,
    logSettings,
    ...sharding,
  });
  metrics.addMetric(METRICS.publishes, MetricUnit.Count, 1);
  if (!('delivered' in result)) {
    logger.info('publish queued as shard jobs', { publishId: result.id, shards: result.shards });
    return result;
  }
  metrics.addMetric(METRICS.delivered, MetricUnit.Count, result.delivered);
  metrics.addMetric(METRICS.gone, MetricUnit.Count, result.gone);
  metrics.addMetric(METRICS.failed, MetricUnit.Count, result.failed);
  metrics.addMetric(METRICS.stored, MetricUnit.Count, result.stored);
  metrics.addMetric(METRICS.fanOutDuration, MetricUnit.Milliseconds, performance.now() - started);
  logger.info('published', { publishId: result.id, ...result });
  return result;
}

function isInputError(error: unknown): error is PushError {
  return error instanceof PushError && !isRetryable(error) && error.code !== 'internal';
}

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
  const remaining: Remaining = () =>
    context?.getRemainingTimeInMillis === undefined
      ? Number.POSITIVE_INFINITY
      : context.getRemainingTimeInMillis();
  try {
    if (isSnsEvent(event)) {
      const results: (PublishResult | QueuedResult)[] = [];
      let rejected = 0;
      let infraFailure: unknown;
      for (const record of event.Records) {
        try {
          const result = await run(record.Sns.Message, idsFrom(record.Sns.MessageId), remaining);
          if ('results' in result) results.push(...result.results);
          else if ('delivered' in result || 'queued' in result)
            results.push(result as PublishResult | QueuedResult);
        } catch (error) {
          if (isInputError(error)) {
            rejected++;
            logger.warn('SNS message rejected', {
              snsMessageId: record.Sns.MessageId,
              ...errorLogFields(error),
            });
          } else {
            infraFailure ??= error;
            logger.error('SNS message failed', { snsMessageId: record.Sns.MessageId, error });
          }
        }
      }
      if (infraFailure !== undefined) throw infraFailure;
      return { results, rejected };
    }
    try {
      return await run(event, idsFrom(context?.awsRequestId), remaining);
    } catch (error) {
      if (isInputError(error)) {
        logger.info('request rejected', errorLogFields(error));
        return { error: toErrorBody(error) };
      }
      throw error;
    }
  } finally {
    flushMetrics(metrics);
  }
};
