/**
 * Browser and Node client for the push API. See {@link createPushClient}.
 *
 * @packageDocumentation
 */
export { type ClientErrorCode, PushClientError, type PushErrorCode } from './errors';
export {
  createPushClient,
  type PushClient,
  type PushClientEvents,
  type PushClientOptions,
  type PushMessage,
  type PushStatus,
  type SubscribeOptions,
} from './push-client';
export type { WebSocketConstructor, WebSocketLike } from './socket';
