/**
 * Browser and Node client for the push API. See {@link createPushClient}.
 *
 * @packageDocumentation
 */
export { type ClientErrorCode, PushClientError, type PushErrorCode } from './errors.js';
export type { ServerErrorCode } from './protocol.js';
export {
  createPushClient,
  type PushClient,
  type PushClientEvents,
  type PushClientOptions,
  type PushMessage,
  type PushStatus,
  type SubscribeOptions,
  TOPIC_FRAMES_IN_FLIGHT,
} from './push-client.js';
export type { WebSocketConstructor, WebSocketLike } from './socket.js';
