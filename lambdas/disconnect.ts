import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS } from './shared/deployment';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import {
  connectionStoreFromEnv,
  createLogger,
  createMetrics,
  dynamoClientsFromEnv,
  flushMetrics,
} from './wiring';

const logger = createLogger();
const metrics = createMetrics();
const store = connectionStoreFromEnv(dynamoClientsFromEnv());

/**
 * `$disconnect`: deletes every record of the connection. API Gateway sends it on a best-effort
 * basis, which is why the TTL and the 410 path exist as well.
 */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { connectionId, authorizer, disconnectStatusCode, disconnectReason } = event.requestContext;
  const removed = await store.remove(connectionId);
  logger.info('disconnected', {
    connectionId,
    uid: authorizer?.uid,
    removed,
    disconnectStatusCode,
    disconnectReason,
  });
  metrics.addMetric(METRICS.disconnects, MetricUnit.Count, 1);
  flushMetrics(metrics);
  return { statusCode: 200 };
};
