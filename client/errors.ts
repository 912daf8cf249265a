import type { ServerErrorCode } from './protocol.js';

/**
 * Codes of failures the client detects itself. The server's own codes (`bad_request`, `forbidden`,
 * …) arrive unchanged in `error` frames.
 * - `token_failed`: the token function threw or rejected; the client retries with backoff.
 * - `socket_closed`: a socket could not be created, failed to open (a refused token included:
 *   browsers hide the 401), did not open in time, or closed without `close()` being called; the
 *   client reconnects. With `ws` the message ends with what it said, such as
 *   `Unexpected server response: 401` (the token refused) or `403` (a URL without the stage).
 * - `heartbeat_timeout`: a ping got no answer in time, so the socket counts as dead and is replaced.
 * - `kicked`: the server sent `{"type":"kicked"}` (e.g. on logout); the client closes for good.
 *   The message is the server's reason, or `kicked by the server` without a string one.
 */
export type ClientErrorCode = 'token_failed' | 'socket_closed' | 'heartbeat_timeout' | 'kicked';

/** Every code an `error` event can carry. */
export type PushErrorCode = ServerErrorCode | ClientErrorCode;

/**
 * What `error` events carry: a stable `code`, a human message and, for `token_failed` and
 * `socket_closed`, the `cause` (what the token function threw, the socket's error event), whose
 * message, when a string, ends the error's.
 * Errors are reports, not ends: the client keeps (re)connecting until `close()` (or a kick).
 * `gone` (the server lost the connection) makes it reconnect; `unavailable` makes it send the
 * resume or subscribe that failed again after a backoff (a failed ping waits for the next heartbeat).
 */
export class PushClientError extends Error {
  override readonly name = 'PushClientError';
  readonly code: PushErrorCode;
  /** The topic of the subscribe, unsubscribe or resume the server refused, when it said. */
  readonly topic?: string;

  constructor(code: PushErrorCode, message: string, options?: { cause?: unknown; topic?: string }) {
    super(message, options);
    this.code = code;
    if (options?.topic !== undefined) this.topic = options.topic;
  }
}
