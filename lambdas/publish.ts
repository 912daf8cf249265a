import { type PublishResult, publish } from './core/publish';
import { isSnsEvent } from './core/publish-event';
import { parsePublishRequest } from './core/publish-request';
import { type ErrorBody, isRetryable, PushError, toErrorBody } from './shared/errors';
import {
  connectionStoreFromEnv,
  createLogger,
  fanOutSettingsFromEnv,
  gatewayFromEnv,
  logSettingsFromEnv,
  messageLogFromEnv,
} from './shared/runtime';

const logger = createLogger();
const settings = fanOutSettingsFromEnv();
const store = connectionStoreFromEnv();
const gateway = gatewayFromEnv(settings);
const logSettings = logSettingsFromEnv();
const log = messageLogFromEnv(logSettings);

/** A publish that was refused for its input; the field names are the README's contract. */
export interface PublishRejection {
  readonly error: ErrorBody;
}

/** What an SNS invocation reports (only visible in logs and tests: SNS ignores return values). */
export interface SnsSummary {
  readonly results: PublishResult[];
  readonly rejected: number;
}

async function publishOne(body: unknown): Promise<PublishResult> {
  const request = parsePublishRequest(body);
  const result = await publish(request, {
    store,
    gateway,
    log,
    logSettings,
    concurrency: settings.concurrency,
    attempts: settings.attempts,
    events: {
      retry: (connectionId, attempt, error) =>
        logger.debug('delivery retried', {
          publishId: request.id,
          connectionId,
          attempt,
          code: (error as PushError).code,
        }),
      failed: (connectionId, error) =>
        logger.warn('delivery failed', {
          publishId: request.id,
          connectionId,
          code: toErrorBody(error).code,
        }),
      cleanupFailed: (connectionId, error) =>
        logger.warn('stale record not removed', { publishId: request.id, connectionId, error }),
    },
  });
  logger.info('published', { publishId: result.id, ...result });
  return result;
}

/**
 * Publishes one body (direct invoke, or the local `POST /publish`) or every record of an SNS
 * event. Bad input is answered (`{"error":{code,message}}`) or, for SNS, logged and counted;
 * only infrastructure failures throw, so that SNS/Lambda retry and the message ends in the DLQ.
 */
export const handler = async (event: unknown): Promise<PublishResult | PublishRejection | SnsSummary> => {
  if (isSnsEvent(event)) {
    const results: PublishResult[] = [];
    let rejected = 0;
    let infraFailure: unknown;
    for (const record of event.Records) {
      try {
        results.push(await publishOne(record.Sns.Message));
      } catch (error) {
        if (error instanceof PushError && !isRetryable(error) && error.code !== 'internal') {
          rejected++;
          logger.warn('SNS message rejected', { snsMessageId: record.Sns.MessageId, ...toErrorBody(error) });
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
    return await publishOne(event);
  } catch (error) {
    if (error instanceof PushError && !isRetryable(error) && error.code !== 'internal') {
      logger.info('publish rejected', { ...toErrorBody(error) });
      return { error: toErrorBody(error) };
    }
    throw error;
  }
};
