import type { WebSocketEvent, WebSocketResult } from './shared/events';
import { connectionStoreFromEnv, createLogger } from './shared/runtime';

const logger = createLogger();
const store = connectionStoreFromEnv();

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
  return { statusCode: 200 };
};
