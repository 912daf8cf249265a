import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { principalFrom } from './core/auth-context';
import { expiresAtFor } from './core/expiry';
import { enforceConnectionLimit } from './core/sessions';
import { shardOf } from './core/shard';
import { intEnv } from './shared/config';
import { METRICS } from './shared/deployment';
import { ENV } from './shared/env';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import { LIMITS } from './shared/limits';
import { createLogger, createMetrics, deliveryFromEnv, flushMetrics } from './wiring';

const logger = createLogger();
const metrics = createMetrics();
const delivery = deliveryFromEnv();
const maxConnectionsPerUid = intEnv(ENV.maxConnectionsPerUid, LIMITS.maxConnectionsPerUid);

/**
 * `$connect`: stores the authorized connection, then holds its uid to the connection cap by
 * ending the uid's least recently seen connections past it. A failure to store fails the
 * handshake, storing nothing; a failed eviction is logged and the connect goes on (the next
 * connect of the uid evicts again).
 */
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
  await delivery.store.put({
    connectionId,
    uid: principal.uid,
    shard: shardOf(connectionId),
    connectedAt: connectedAt ?? now,
    lastSeenAt: now,
    expiresAt: expiresAtFor(now),
    grants: principal.grants,
    ...(principal.tokenExp === undefined ? {} : { tokenExp: principal.tokenExp }),
    sourceIp: identity?.sourceIp,
    // The header is the client's to choose; cut, it cannot swell the record every uid read pulls.
    userAgent: identity?.userAgent?.slice(0, LIMITS.maxUserAgentLength),
  });
  logger.info('connected', { connectionId, uid: principal.uid });
  metrics.addMetric(METRICS.connects, MetricUnit.Count, 1);
  try {
    const evicted = await enforceConnectionLimit(
      principal.uid,
      connectionId,
      maxConnectionsPerUid,
      delivery,
      now,
    );
    if (evicted.length > 0) {
      logger.info('connections evicted past the per-uid cap', {
        connectionId,
        uid: principal.uid,
        evicted,
        max: maxConnectionsPerUid,
      });
    }
  } catch (error) {
    logger.warn('connection cap not enforced', { connectionId, uid: principal.uid, error });
  }
  flushMetrics(metrics);
  return { statusCode: 200 };
};
