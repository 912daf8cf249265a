import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { allowResult } from './core/auth-context';
import { standingRefusal } from './core/revocation';
import { verifyTokenWithKeyRing } from './core/token';
import { optionalEnv } from './shared/config';
import { METRICS } from './shared/deployment';
import { ENV } from './shared/env';
import { UnauthorizedError } from './shared/errors';
import type { AuthorizerResult, WebSocketAuthorizerEvent } from './shared/events';
import { TOKEN_QUERY_PARAM } from './shared/protocol';
import {
  createLogger,
  createMetrics,
  dynamoClientsFromEnv,
  flushMetrics,
  keyRingFromEnv,
  revocationsFromEnv,
} from './wiring';

const logger = createLogger();
const metrics = createMetrics();
const keys = keyRingFromEnv();
const audience = optionalEnv(ENV.tokenAudience);
const revocations = revocationsFromEnv(dynamoClientsFromEnv());

/**
 * REQUEST authorizer on `$connect`: verifies the `token` query parameter against the signing
 * secret's current and previous keys (see `keyRingFromEnv`), then refuses it if a `kick` with
 * `revoke` revoked the uid's tokens issued when it was, or if the uid is in a flood's cool-off (a
 * connection of it was closed by `$default` for flooding): one strongly consistent GetItem of the
 * uid's revocation record answers both, made only for a token that is otherwise good, so forged
 * tokens cost no read. Throwing
 * `Unauthorized` is how a Lambda authorizer makes API Gateway answer 401; any other error is a 500.
 * When the keys could not be read again but were read before, it verifies with those and logs a
 * warning; with no keys read yet, a failed read is a 500.
 */
export const handler = async (event: WebSocketAuthorizerEvent): Promise<AuthorizerResult> => {
  const connectionId = event.requestContext.connectionId;
  try {
    const claims = await verifyTokenWithKeyRing(event.queryStringParameters?.[TOKEN_QUERY_PARAM], keys, {
      ...(audience === undefined ? {} : { audience }),
    });
    const refusal = standingRefusal(claims, await revocations.standing(claims.uid, Date.now()));
    if (refusal !== undefined) throw new UnauthorizedError(refusal);
    logger.info('connection authorized', { connectionId, uid: claims.uid });
    return allowResult(claims, event.methodArn);
  } catch (error) {
    if (error instanceof UnauthorizedError) {
      logger.info('connection refused', { connectionId, reason: error.message });
      metrics.addMetric(METRICS.authorizerDenials, MetricUnit.Count, 1);
      flushMetrics(metrics);
      throw new Error('Unauthorized');
    }
    logger.error('authorizer failed', { connectionId, error });
    metrics.addMetric(METRICS.authorizerFailures, MetricUnit.Count, 1);
    flushMetrics(metrics);
    throw error;
  } finally {
    // The ring went on with the keys it read before: connects still work, but say so once.
    const failure = keys.takeReadFailure?.();
    if (failure !== undefined) {
      logger.warn('token secret could not be read again; verifying with the keys read before', {
        connectionId,
        keysAgeMs: failure.keysAgeMs,
        error: failure.error,
      });
    }
  }
};
