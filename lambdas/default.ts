import { answerClientFrame } from './core/client-frame';
import { encodeFrame } from './core/frames';
import { intEnv } from './shared/config';
import { ENV } from './shared/env';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import { LIMITS } from './shared/limits';
import { createLogger, deliveryFromEnv, logSettingsFromEnv, messageLogFromEnv } from './wiring';

const logger = createLogger();
const delivery = deliveryFromEnv();
const logSettings = logSettingsFromEnv();
const log = messageLogFromEnv(logSettings);
const maxSubscriptions = intEnv(ENV.maxSubscriptions, LIMITS.maxSubscriptions);

/**
 * `$default`: every client frame lands here (the route has a route response, so the returned
 * body is the reply). Bad input gets an `error` frame and the connection stays open.
 */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { connectionId, authorizer } = event.requestContext;
  const reply = await answerClientFrame(
    event,
    { ...delivery, log, logSettings, maxSubscriptions },
    Date.now(),
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
