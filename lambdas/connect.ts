import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { principalFrom } from './core/auth-context';
import { expiresAtFor } from './core/expiry';
import { shardOf } from './core/shard';
import { METRICS } from './shared/deployment';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import { connectionStoreFromEnv, createLogger, createMetrics, flushMetrics } from './wiring';

const logger = createLogger();
const metrics = createMetrics();
const store = connectionStoreFromEnv();

/** `$connect`: stores the authorized connection. A failure fails the handshake, storing nothing. */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { connectionId, connectedAt, identity, authorizer } = event.requestContext;
  let principal: ReturnType<typeof principalFrom>;
  try {
    principal = principalFrom(authorizer);
  } catch (error) {
    logger.warn('connect without a valid authorizer context', { connectionId, error });
    return { statusCode: 403 };
  }
  const now = Date.now();
  await store.put({
    connectionId,
    uid: principal.uid,
    shard: shardOf(connectionId),
    connectedAt: connectedAt ?? now,
    lastSeenAt: now,
    expiresAt: expiresAtFor(now),
    grants: principal.grants,
    sourceIp: identity?.sourceIp,
    userAgent: identity?.userAgent,
  });
  logger.info('connected', { connectionId, uid: principal.uid });
  metrics.addMetric(METRICS.connects, MetricUnit.Count, 1);
  flushMetrics(metrics);
  return { statusCode: 200 };
};
