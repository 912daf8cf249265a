import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { allowResult } from './core/auth-context';
import { settleBefore } from './core/deadline';
import { standingRefusal } from './core/revocation';
import { type TokenClaims, verifyTokenWithKeyRing } from './core/token';
import { optionalEnv } from './shared/config';
import { METRICS } from './shared/deployment';
import { ENV } from './shared/env';
import { UnauthorizedError, UnavailableError } from './shared/errors';
import type { AuthorizerResult, WebSocketAuthorizerEvent } from './shared/events';
import { LIMITS } from './shared/limits';
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

/** The token's claims, if it is good and neither revoked nor cooling off; else `UnauthorizedError`. */
async function authorize(event: WebSocketAuthorizerEvent): Promise<TokenClaims> {
  const claims = await verifyTokenWithKeyRing(event.queryStringParameters?.[TOKEN_QUERY_PARAM], keys, {
    ...(audience === undefined ? {} : { audience }),
  });
  const refusal = standingRefusal(claims, await revocations.standing(claims.uid, Date.now()));
  if (refusal !== undefined) throw new UnauthorizedError(refusal);
  return claims;
}

/**
 * REQUEST authorizer on `$connect`: verifies the `token` query parameter against the signing
 * secret's current and previous keys (see `keyRingFromEnv`), then refuses it if a `kick` with
 * `revoke` revoked the uid's tokens issued when it was, or if the uid is in a flood's cool-off (a
 * connection of it was closed by `$default` for flooding): one strongly consistent GetItem of the
 * uid's revocation record answers both, made only for a token that is otherwise good, so forged
 * tokens cost no read. Throwing
 * `Unauthorized` is how a Lambda authorizer makes API Gateway answer 401; any other error is a 500.
 * When the keys could not be read again but were read before, it verifies with those and logs a
 * warning; with no keys read yet, a failed read is a 500. Checks not answered with
 * {@link LIMITS.connectMarginMs} left are a failure too (500, counted as `AuthorizerFailures`).
 */
export const handler = async (
  event: WebSocketAuthorizerEvent,
  context?: Partial<Pick<Context, 'getRemainingTimeInMillis'>>,
): Promise<AuthorizerResult> => {
  const connectionId = event.requestContext.connectionId;
  // A read that hangs (DynamoDB or Secrets Manager stalled: each attempt may take 5 s, and the SDK
  // retries) must fail here, counted, not with the function's timeout, which counts nothing.
  const remaining = context?.getRemainingTimeInMillis?.();
  const deadline =
    remaining === undefined ? Number.POSITIVE_INFINITY : Date.now() + remaining - LIMITS.connectMarginMs;
  try {
    const checked = await settleBefore(authorize(event), deadline);
    if (!checked.done) {
      throw new UnavailableError("the token's checks were not answered before the authorizer's timeout");
    }
    logger.info('connection authorized', { connectionId, uid: checked.value.uid });
    return allowResult(checked.value, event.methodArn);
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
