import type { ErrorCode } from './wire.js';

/**
 * What every publisher and signer call throws instead of handing back an error payload: the
 * stable wire `code` (`bad_request`, `payload_too_large`, `not_found`, `throttled`,
 * `unavailable`, …), a message that says why, and the underlying failure as `cause` when there
 * is one (an AWS SDK error, a Lambda function error, a network error).
 *
 * @example
 * try {
 *   await push.publish({ to: { uid }, data });
 * } catch (error) {
 *   if (error instanceof PushApiError && error.retryable) return retryLater();
 *   throw error;
 * }
 */
export class PushApiError extends Error {
  override readonly name = 'PushApiError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** True for failures the same call may not meet again: `throttled` and `unavailable`. */
  get retryable(): boolean {
    return this.code === 'throttled' || this.code === 'unavailable';
  }
}

/**
 * Error names AWS services use for throttling: the AWS SDK's own list (it retries these as
 * throttling), with SNS's answer when the KMS key of an encrypted topic is throttled. SNS's own
 * `Throttled` (429) arrives as `ThrottledException`.
 */
const THROTTLING = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'KMSThrottlingException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);

/**
 * An AWS SDK (or network) failure as a {@link PushApiError}: throttling (a name above, HTTP 429, or
 * an error the SDK marks as throttling) is `throttled`; a server-side or network failure, an error
 * the SDK marks retryable, or Lambda's 409 for a function not ready yet (`ResourceConflictException`
 * while it is created or updated) `unavailable`; a request too large (413) `payload_too_large`; and
 * anything the service refused for the caller's own reasons (no permission, no such function or
 * topic), or the SDK before sending (no region), `internal`: retrying cannot help.
 */
export function fromSdkError(what: string, error: unknown): PushApiError {
  const e = error as {
    name?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    $retryable?: { throttling?: unknown };
  } | null;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const status = e?.$metadata?.httpStatusCode;
  if (THROTTLING.has(name) || status === 429 || e?.$retryable?.throttling === true)
    return new PushApiError('throttled', `${what} throttled: ${message}`, { cause: error });
  if (
    (typeof e?.$retryable === 'object' && e.$retryable !== null) ||
    (status === 409 && name === 'ResourceConflictException')
  ) {
    return new PushApiError('unavailable', `${what} failed for now (${status} ${name}): ${message}`, {
      cause: error,
    });
  }
  // Lambda's answer to a payload over its limit (`RequestTooLargeException`, or
  // `RequestEntityTooLargeException` for `Event`): the body's size, which the caller must change.
  if (status === 413) {
    return new PushApiError('payload_too_large', `${what} refused (413 ${name}): ${message}`, {
      cause: error,
    });
  }
  // The SDK's own check before any request: neither the client's config nor the environment names
  // a region. Nothing was sent and no retry mends it, as none mends a missing permission.
  if (status === undefined && message === 'Region is missing') {
    return new PushApiError(
      'internal',
      `${what} failed: no AWS region: set AWS_REGION, or pass clientConfig.region (or a client of your own)`,
      { cause: error },
    );
  }
  if (typeof status !== 'number' || status >= 500) {
    return new PushApiError('unavailable', `${what} failed: ${name}: ${message}`, { cause: error });
  }
  return new PushApiError('internal', `${what} refused (${status} ${name}): ${message}`, { cause: error });
}
