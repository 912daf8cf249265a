import { principalFrom } from './core/auth-context';
import { expiresAtFor } from './core/expiry';
import { type ClientAction, encodeFrame, parseClientFrame, type ServerFrame } from './core/frames';
import { resume } from './core/resume';
import { shardOf } from './core/shard';
import { topicGranted } from './core/topics';
import { ForbiddenError, GoneError, PushError, toErrorBody } from './shared/errors';
import type { WebSocketEvent, WebSocketResult } from './shared/events';
import { createLogger, deliveryFromEnv, logSettingsFromEnv, messageLogFromEnv } from './wiring';

const logger = createLogger();
const delivery = deliveryFromEnv();
const { store } = delivery;
const logSettings = logSettingsFromEnv();
const log = messageLogFromEnv(logSettings);

/**
 * `$default`: every client frame lands here (the route has a route response, so the returned
 * body is the reply). Bad input gets an `error` frame and the connection stays open.
 */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { connectionId } = event.requestContext;
  let frame: ClientAction | undefined;
  let reply: ServerFrame;
  try {
    if (event.isBase64Encoded) throw new PushError('bad_request', 'binary frames are not supported');
    frame = parseClientFrame(event.body);
    reply = await respond(event, frame);
  } catch (error) {
    if (!(error instanceof PushError))
      logger.error('frame failed', { connectionId, uid: event.requestContext.authorizer?.uid, error });
    else
      logger.info('frame refused', {
        connectionId,
        uid: event.requestContext.authorizer?.uid,
        code: error.code,
        reason: error.message,
      });
    // The topic ties an error to the subscribe, unsubscribe or resume that caused it.
    const topic = frame !== undefined && 'topic' in frame ? frame.topic : undefined;
    const body = toErrorBody(error);
    // A throttled backend is, for the client, a backend to retry later: one code, one behaviour.
    const code = body.code === 'throttled' ? 'unavailable' : body.code;
    reply = { type: 'error', code, message: body.message, ...(topic === undefined ? {} : { topic }) };
  }
  return { statusCode: 200, body: encodeFrame(reply) };
};

async function respond(event: WebSocketEvent, frame: ClientAction): Promise<ServerFrame> {
  const { connectionId, connectedAt, authorizer } = event.requestContext;
  const now = Date.now();
  switch (frame.action) {
    case 'ping':
      // A connection whose record is gone (expired, or removed after a 410) gets no pushes any
      // more: say so, and the client reconnects instead of waiting forever.
      if (!(await store.touch(connectionId, now))) {
        throw new GoneError(`connection ${connectionId} is no longer registered; reconnect`);
      }
      return { type: 'pong', ts: now };
    case 'subscribe': {
      const principal = principalFrom(authorizer);
      if (!topicGranted(frame.topic, principal.grants)) {
        throw new ForbiddenError(`token does not grant topic ${frame.topic}`);
      }
      await store.subscribe(
        {
          connectionId,
          topic: frame.topic,
          uid: principal.uid,
          shard: shardOf(connectionId),
          connectedAt,
          expiresAt: expiresAtFor(now),
        },
        now,
      );
      return { type: 'subscribed', topic: frame.topic };
    }
    case 'unsubscribe':
      await store.unsubscribe(connectionId, frame.topic);
      return { type: 'unsubscribed', topic: frame.topic };
    case 'resume':
      // Replayed messages go out through the Management API before this reply, so they arrive first.
      return resume(connectionId, principalFrom(authorizer), frame, now, { ...delivery, log, logSettings });
  }
}
