import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { principalFrom } from './core/auth-context';
import { settleBefore } from './core/deadline';
import { sendReserveMs } from './core/delivery';
import { expiresAtFor } from './core/expiry';
import type { UidStanding } from './core/ports';
import { standingRefusal } from './core/revocation';
import { enforceConnectionLimit } from './core/sessions';
import { shardOf } from './core/shard';
import { intEnv } from './shared/config';
import { METRICS } from './shared/deployment';
import { ENV } from './shared/env';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import { LIMITS } from './shared/limits';
import { INSTANCE_PATTERN, INSTANCE_QUERY_PARAM } from './shared/protocol';
import {
  createLogger,
  createMetrics,
  deliveryFromEnv,
  dynamoClientsFromEnv,
  flushMetrics,
  revocationsFromEnv,
} from './wiring';

const logger = createLogger();
const metrics = createMetrics();
// One client of each kind for every adapter: one pool of connections, one handshake each.
const dynamo = dynamoClientsFromEnv();
const delivery = deliveryFromEnv(dynamo);
const revocations = revocationsFromEnv(dynamo);
const maxConnectionsPerUid = intEnv(ENV.maxConnectionsPerUid, LIMITS.maxConnectionsPerUid);

/**
 * The uid's standing (its revocation and its flood cool-off), read again once the record is
 * stored. A failed read, or one not answered by `deadline`, counts as nothing standing: the
 * authorizer has checked already, this read only narrows a race of milliseconds, and failing the
 * handshake here would leave a stored record behind a handshake that never opened.
 */
async function standingOf(uid: string, connectionId: string, deadline: number): Promise<UidStanding> {
  try {
    const read = await settleBefore(revocations.standing(uid, Date.now()), deadline);
    if (read.done) return read.value;
    logger.warn('revocation not checked again: out of time', { connectionId, uid });
  } catch (error) {
    logger.warn('revocation not checked again', { connectionId, uid, error });
  }
  return {};
}

/**
 * Whether the connection's record is still stored (one strongly consistent read). A failed or late
 * read counts as stored: only a record known to be gone refuses the handshake.
 */
async function stillStored(connectionId: string, deadline: number): Promise<boolean> {
  try {
    const read = await settleBefore(delivery.store.isStored(connectionId), deadline);
    return !read.done || read.value;
  } catch (error) {
    logger.warn('connection record not checked again', { connectionId, error });
    return true;
  }
}

/**
 * The user agent cut to {@link LIMITS.maxUserAgentLength} UTF-16 units, never between the two
 * halves of a surrogate pair: a lone surrogate is not Unicode text, and DynamoDB takes strings as
 * UTF-8, so a user agent with an emoji at the cut would cost the client its handshake.
 */
function cutUserAgent(userAgent: string | undefined): string | undefined {
  if (userAgent === undefined || userAgent.length <= LIMITS.maxUserAgentLength) return userAgent;
  const cut = userAgent.slice(0, LIMITS.maxUserAgentLength);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/**
 * `$connect`: stores the authorized connection, checks the uid's revocation record again (its
 * revocation and its flood cool-off), then holds its uid to the connection cap by ending the
 * uid's connections past it: those of the same client instance first (the `instance` query
 * parameter), then the least recently seen. A failure to store fails the handshake, storing
 * nothing; a failed eviction is logged and the connect goes on (the next connect of the uid
 * evicts again).
 *
 * The second check closes the window between the authorizer's check and this record (when
 * DynamoDB answers it; see `standingOf` above), refusing by the authorizer's own rule
 * (`standingRefusal`): a `kick` with `revoke` records the revocation and then ends the connections
 * it finds. Read after the put (strongly consistent), the revocation is either seen here, and the
 * handshake is refused (401, as the authorizer would) with its record removed, or it was recorded
 * after this record was stored, and the kick that recorded it finds and ends the connection. A
 * cool-off `$default` wrote (closing a connection of the uid for flooding) before this read is
 * refused the same way; one written after it finds this connection open, and leaves it open as it
 * leaves the uid's other connections.
 *
 * At the cap, another connect of the uid may evict this one while its handshake runs (a burst of
 * connects): its `kicked` frame then met a socket not open yet. So a crowded connect reads its own
 * record again last, and answers 429 when it is gone, rather than open a socket no push reaches.
 *
 * Only the put, or that read finding the record gone, may fail the handshake. What follows the
 * put waits until `LIMITS.connectMarginMs` before the invocation's end at most, so a slow table
 * never turns a stored connection into a refused handshake (API Gateway answers 500 to a
 * `$connect` that times out, and its record stays).
 */
export const handler = async (
  event: WebSocketEvent,
  context?: Partial<Pick<Context, 'getRemainingTimeInMillis'>>,
): Promise<WebSocketResult> => {
  const { connectionId, connectedAt, identity, authorizer } = event.requestContext;
  let principal: ReturnType<typeof principalFrom>;
  try {
    principal = principalFrom(authorizer);
  } catch (error) {
    logger.warn('connect without a valid authorizer context', { connectionId, error });
    return { statusCode: 403 };
  }
  const now = Date.now();
  // The client's to choose, and only ever an ordering hint among the uid's own connections.
  const named = event.queryStringParameters?.[INSTANCE_QUERY_PARAM];
  const instance = named !== undefined && INSTANCE_PATTERN.test(named) ? named : undefined;
  const remaining = context?.getRemainingTimeInMillis?.();
  const deadline =
    remaining === undefined ? Number.POSITIVE_INFINITY : now + remaining - LIMITS.connectMarginMs;
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
    userAgent: cutUserAgent(identity?.userAgent),
    ...(instance === undefined ? {} : { instance }),
  });
  const refusal = standingRefusal(
    { iat: principal.tokenIat },
    await standingOf(principal.uid, connectionId, deadline),
  );
  if (refusal !== undefined) {
    // Refused either way: a record left by a failed or late removal is a dead connection, which
    // the next delivery meets as gone and deletes.
    const removed = await settleBefore(delivery.store.remove(connectionId), deadline).catch(
      (error: unknown) => {
        logger.warn('refused connection not removed', { connectionId, error });
        return { done: true } as const;
      },
    );
    if (!removed.done) logger.warn('refused connection not removed: out of time', { connectionId });
    logger.info('connection refused while the handshake ran', {
      connectionId,
      uid: principal.uid,
      reason: refusal,
    });
    metrics.addMetric(METRICS.authorizerDenials, MetricUnit.Count, 1);
    flushMetrics(metrics);
    return { statusCode: 401 };
  }
  logger.info('connected', { connectionId, uid: principal.uid });
  metrics.addMetric(METRICS.connects, MetricUnit.Count, 1);
  let crowded = false;
  try {
    const capped = await settleBefore(
      enforceConnectionLimit(
        principal.uid,
        connectionId,
        maxConnectionsPerUid,
        delivery,
        now,
        instance,
        // An evicted connection is closed with one send's time left, its `kicked` frame sent or not.
        deadline - sendReserveMs(delivery, 0),
      ),
      deadline,
    );
    if (!capped.done) {
      logger.warn('connection cap not enforced: out of time', { connectionId, uid: principal.uid });
    } else {
      crowded = capped.value.crowded;
      if (capped.value.evicted.length > 0) {
        logger.info('connections evicted past the per-uid cap', {
          connectionId,
          uid: principal.uid,
          evicted: capped.value.evicted,
          max: maxConnectionsPerUid,
        });
      }
    }
  } catch (error) {
    logger.warn('connection cap not enforced', { connectionId, uid: principal.uid, error });
  }
  if (crowded && !(await stillStored(connectionId, deadline))) {
    // Another connect of the uid evicted this one while its handshake ran: its `kicked` frame met
    // a socket not open yet (410), so opening it now would leave a socket with no record, which no
    // push reaches. Refused, the client learns it at once.
    logger.info('connection evicted while the handshake ran', { connectionId, uid: principal.uid });
    flushMetrics(metrics);
    return { statusCode: 429 };
  }
  flushMetrics(metrics);
  return { statusCode: 200 };
};
