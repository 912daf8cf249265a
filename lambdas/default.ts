import type { Context } from 'aws-lambda';
import { answerClientFrame } from './core/client-frame';
import { encodeFrame } from './core/frames';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import {
  createLogger,
  deliveryFromEnv,
  logSettingsFromEnv,
  maxSubscriptionsFromEnv,
  messageLogFromEnv,
  resumeBudgetFromEnv,
} from './wiring';

const logger = createLogger();
const delivery = deliveryFromEnv();
const logSettings = logSettingsFromEnv();
const log = messageLogFromEnv(logSettings);
const maxSubscriptions = maxSubscriptionsFromEnv();
const resumeBudget = resumeBudgetFromEnv();

/**
 * `$default`: every client frame lands here (the route has a route response, so the returned
 * body is the reply). Bad input gets an `error` frame and the connection stays open.
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
    { ...delivery, log, logSettings, maxSubscriptions, resumeBudget, ...deadline },
    now,
    {
      refused: (error) =>
        logger.info('frame refused', {
          connectionId,
          uid: authorizer?.uid,
          code: error.code,
          reason: error.message,
        }),
      failed: (error) => logger.error('frame failed', { connectionId, uid: authorizer?.uid, error }),
    },
  );
  return reply === undefined ? { statusCode: 200 } : { statusCode: 200, body: encodeFrame(reply) };
};
