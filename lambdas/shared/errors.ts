/** Stable error codes. They appear on the wire and in publish results; never rename one. */
export const ERROR_CODES = {
  badRequest: 'bad_request',
  forbidden: 'forbidden',
  notFound: 'not_found',
  unauthorized: 'unauthorized',
  payloadTooLarge: 'payload_too_large',
  gone: 'gone',
  conflict: 'conflict',
  limitExceeded: 'limit_exceeded',
  rateLimited: 'rate_limited',
  throttled: 'throttled',
  unavailable: 'unavailable',
  internal: 'internal',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * The project's one error type: a stable `code`, a human message and an optional `cause`.
 *
 * @example
 * throw new PushError('bad_request', 'to.uid must be a non-empty string');
 */
export class PushError extends Error {
  override readonly name: string = 'PushError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Bad input from a client or a publisher: the caller can fix it. */
export class BadRequestError extends PushError {
  override readonly name = 'BadRequestError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.badRequest, message, options);
  }
}

/** The caller is known but not allowed to do this. */
export class ForbiddenError extends PushError {
  override readonly name = 'ForbiddenError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.forbidden, message, options);
  }
}

/** What the caller asked about does not exist (an unknown sharded publish id). */
export class NotFoundError extends PushError {
  override readonly name = 'NotFoundError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.notFound, message, options);
  }
}

/** The caller could not be authenticated (bad, expired or missing token). */
export class UnauthorizedError extends PushError {
  override readonly name = 'UnauthorizedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.unauthorized, message, options);
  }
}

/** A body or frame over its size limit. */
export class PayloadTooLargeError extends PushError {
  override readonly name = 'PayloadTooLargeError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.payloadTooLarge, message, options);
  }
}

/** The connection no longer exists (the Management API answered 410). */
export class GoneError extends PushError {
  override readonly name = 'GoneError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.gone, message, options);
  }
}

/** A publish id already used with a different body: ids are idempotency keys. */
export class ConflictError extends PushError {
  override readonly name = 'ConflictError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.conflict, message, options);
  }
}

/** A per-connection or per-uid cap was reached (subscriptions, connections); not worth retrying as is. */
export class LimitExceededError extends PushError {
  override readonly name = 'LimitExceededError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.limitExceeded, message, options);
  }
}

/**
 * The caller sends faster than its per-connection allowance (a replay already in flight, too
 * many resumes): slow down and retry later. Unlike {@link ThrottledError} this is about the
 * caller, not a dependency, so it is an input error and never retried by the server.
 */
export class RateLimitedError extends PushError {
  override readonly name = 'RateLimitedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.rateLimited, message, options);
  }
}

/** A dependency throttled us (429, ProvisionedThroughputExceeded); worth retrying. */
export class ThrottledError extends PushError {
  override readonly name = 'ThrottledError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.throttled, message, options);
  }
}

/** A dependency failed or timed out (5xx, network), or a table is missing; worth retrying. */
export class UnavailableError extends PushError {
  override readonly name: string = 'UnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_CODES.unavailable, message, options);
  }
}

/**
 * A DynamoDB table that is not there: deleted and not yet created again, or a table name that
 * points nowhere. Callers see `unavailable` (nothing they sent caused it, and the same call works
 * once the table is back); the operator, who alone can fix it, sees it logged as an error.
 */
export class TableMissingError extends UnavailableError {
  override readonly name = 'TableMissingError';
}

/** True for failures the caller's input caused: answered or counted, never retried. */
export function isInputError(error: unknown): error is PushError {
  return error instanceof PushError && !isRetryable(error) && error.code !== ERROR_CODES.internal;
}

/** True for failures a retry may cure. */
export function isRetryable(error: unknown): boolean {
  return error instanceof ThrottledError || error instanceof UnavailableError;
}

/** The `{code, message}` shape every error takes on the wire and in publish results. */
export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
}

/** The message every `internal` error frame carries: what failed is for the logs, not the client. */
export const INTERNAL_MESSAGE = 'internal error';

/** Turns anything thrown into a wire-safe body; unknown errors never leak their message. */
export function toErrorBody(error: unknown): ErrorBody {
  if (error instanceof PushError) return { code: error.code, message: error.message };
  return { code: ERROR_CODES.internal, message: INTERNAL_MESSAGE };
}

/**
 * Log fields for an error: `code` and `reason`. Powertools reserves `message`, so a spread
 * `toErrorBody` would lose the reason.
 */
export function errorLogFields(error: unknown): { code: ErrorCode; reason: string } {
  const body = toErrorBody(error);
  return { code: body.code, reason: body.message };
}

/**
 * Stable codes of a refused secret rotation step. They appear in the rotation function's logs
 * and in the failure Secrets Manager records, never on the wire, so they are kept apart from
 * {@link ERROR_CODES}; never rename one either.
 */
export const ROTATION_ERROR_CODES = {
  /** The invocation is not a rotation event (no secret, version or known step). */
  invalidEvent: 'rotation_invalid_event',
  /** The secret does not have rotation turned on. */
  notEnabled: 'rotation_not_enabled',
  /** The version being rotated in is not one of the secret's versions. */
  unknownVersion: 'rotation_unknown_version',
  /** The version being rotated in is labelled neither AWSCURRENT nor AWSPENDING. */
  notPending: 'rotation_not_pending',
  /** The pending value cannot serve as an HS256 signing key. */
  unusableKey: 'rotation_unusable_key',
} as const;

export type RotationErrorCode = (typeof ROTATION_ERROR_CODES)[keyof typeof ROTATION_ERROR_CODES];

/**
 * A rotation step that must not go on. Not a {@link PushError}: its code is no wire code. The
 * rotation function throws it, so Secrets Manager marks the step failed and retries the rotation.
 *
 * @example
 * throw new RotationError(ROTATION_ERROR_CODES.notEnabled, 'rotation is not enabled for the secret');
 */
export class RotationError extends Error {
  override readonly name = 'RotationError';
  readonly code: RotationErrorCode;

  constructor(code: RotationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
