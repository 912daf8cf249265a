/**
 * The wire contract as the client needs it. The server's values live in `lambdas/shared/protocol.ts`
 * and `lambdas/shared/errors.ts`; importing those would ship the server's table definitions to
 * every browser and make the published package's types point outside it, so the few the client
 * needs are restated here and `test/client/protocol.test.ts` fails the build (and `tsc`, for
 * {@link ServerErrorCode}) if they ever drift apart.
 */

/** The stable codes the server puts in `error` frames. */
export type ServerErrorCode =
  | 'bad_request'
  | 'forbidden'
  | 'not_found'
  | 'unauthorized'
  | 'payload_too_large'
  | 'gone'
  | 'conflict'
  | 'limit_exceeded'
  | 'rate_limited'
  | 'throttled'
  | 'unavailable'
  | 'internal';

/** Query-string parameter carrying the token on connect. */
export const TOKEN_PARAM = 'token';

/**
 * Query-string parameter naming this client instance on connect: past the uid's connection cap,
 * the server ends this instance's own older socket (the one a rollover replaces) before another's.
 */
export const INSTANCE_PARAM = 'instance';

/** Valid topic names. */
export const TOPIC_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Valid stream epochs, as the server draws them and checks them in a `resume`. */
export const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** API Gateway closes a connection with no traffic for this long. */
export const IDLE_TIMEOUT_MS = 10 * 60 * 1000;

/** API Gateway closes every connection after this long. */
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

/** The error code a server without resume answers `{"action":"resume"}` with. */
export const BAD_REQUEST = 'bad_request';

/** The error code that refuses a topic the token does not grant; asking again cannot help. */
export const FORBIDDEN = 'forbidden';

/** The error code that says the connection's record is gone: reconnect. */
export const GONE = 'gone';

/** The error code that says a backend failed: send the request again. */
export const UNAVAILABLE = 'unavailable';

/** The error code that refuses a resume for now (one replay at a time, a budget per minute): ask again later. */
export const RATE_LIMITED = 'rate_limited';

/** The reason in the `kicked` frame of a connection evicted for a newer one past its uid's cap. */
export const CONNECTION_LIMIT = 'connection_limit';
