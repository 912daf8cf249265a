import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { answerClientFrame, refusalLevel } from './core/client-frame';
import { FrameRate } from './core/frame-rate';
import { encodeFrame } from './core/frames';
import { RepeatCount } from './core/repeat-count';
import { ReplayStoppedError } from './core/resume';
import { METRICS } from './shared/deployment';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import { LIMITS } from './shared/limits';
import {
  createLogger,
  createMetrics,
  deliveryFromEnv,
  dynamoClientsFromEnv,
  floodCoolOffMsFromEnv,
  flushMetrics,
  frameRateFromEnv,
  logSettingsFromEnv,
  maxSubscriptionsFromEnv,
  messageLogFromEnv,
  publishTimeoutMsFromEnv,
  resumeBudgetFromEnv,
  revocationsFromEnv,
  uidFrameRateFromEnv,
} from './wiring';

const logger = createLogger();
const metrics = createMetrics();
// One client of each kind for every adapter: one pool of connections, one handshake each.
const dynamo = dynamoClientsFromEnv();
const delivery = deliveryFromEnv(dynamo);
const logSettings = logSettingsFromEnv();
const log = messageLogFromEnv(dynamo, logSettings);
const maxSubscriptions = maxSubscriptionsFromEnv();
const resumeBudget = resumeBudgetFromEnv();
const publishTimeoutMs = publishTimeoutMsFromEnv();
// Per environment, at module scope: it lives as long as the environment stays warm.
const frameRateSettings = frameRateFromEnv();
const frameRate = new FrameRate(frameRateSettings);
const uidFrameRate = new FrameRate(uidFrameRateFromEnv(process.env, frameRateSettings));
// Per environment, at module scope, as the frame allowances are.
const replayStops = new RepeatCount({
  windowMs: resumeBudget.windowMs,
  maxTracked: LIMITS.frameRateTrackedConnections,
});
// A uid closed for flooding is refused at connect for a while (the authorizer reads the record).
const floodCoolOff = { revocations: revocationsFromEnv(dynamo), ms: floodCoolOffMsFromEnv() };

/**
 * `$default`: every client frame lands here (the route has a route response, so the returned
 * body is the reply). Bad input gets an `error` frame and the connection stays open; a frame over
 * its connection's allowance gets `rate_limited` and runs nothing, and a connection that keeps
 * sending after that is closed, its uid refused at connect for the cool-off.
 */
export const handler = async (
  event: WebSocketEvent,
  context?: Partial<Pick<Context, 'getRemainingTimeInMillis'>>,
): Promise<WebSocketResult> => {
  const { connectionId, authorizer } = event.requestContext;
  const now = Date.now();
  // A replay stops posting before the function times out, so `resumed` always gets back.
  const remaining = context?.getRemainingTimeInMillis?.();
  const deadline = remaining === undefined ? {} : { deadline: now + remaining };
  const reply = await answerClientFrame(
    event,
    {
      ...delivery,
      log,
      logSettings,
      maxSubscriptions,
      resumeBudget,
      publishTimeoutMs,
      frameRate,
      uidFrameRate,
      floodCoolOff,
      ...deadline,
    },
    now,
    {
      refused: (error) => {
        const fields = { connectionId, uid: authorizer?.uid, code: error.code, reason: error.message };
        if (error instanceof ReplayStoppedError) {
          // A client that does not read stops every replay it asks for: one line per uid and
          // resume window, counting the stops since the last.
          const stops = replayStops.note(String(authorizer?.uid ?? connectionId), now);
          if (stops !== undefined) logger.warn('replay stopped: a post failed', { ...fields, stops });
          return;
        }
        const level = refusalLevel(error);
        if (level === 'info') logger.info('frame refused', fields);
        else logger[level]('frame refused for a failure of the service', { ...fields, error });
      },
      failed: (error) => logger.error('frame failed', { connectionId, uid: authorizer?.uid, error }),
      // Once per flood, not per frame: a flooder must not turn into as many log lines.
      limited: (refusals, scope) => {
        if (refusals === 1) logger.info('frames rate limited', { connectionId, uid: authorizer?.uid, scope });
      },
      flooded: (refusals) => {
        logger.warn('connection closed for flooding', { connectionId, uid: authorizer?.uid, refusals });
        metrics.addMetric(METRICS.floodedConnections, MetricUnit.Count, 1);
        flushMetrics(metrics);
      },
      cooledOff: (ms) =>
        logger.info('uid cooling off', { connectionId, uid: authorizer?.uid, coolOffMs: ms }),
      uidFlooded: (refusals, closed) => {
        logger.warn('uid closed for flooding', { connectionId, uid: authorizer?.uid, refusals, closed });
        metrics.addMetric(METRICS.floodedConnections, MetricUnit.Count, closed);
        flushMetrics(metrics);
      },
    },
  );
  return reply === undefined ? { statusCode: 200 } : { statusCode: 200, body: encodeFrame(reply) };
};
