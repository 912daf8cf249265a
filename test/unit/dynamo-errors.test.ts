/**
 * What a DynamoDB failure becomes at the adapters' boundary, and how loudly the `$default` route
 * logs a frame it refused for it: the client's refusals as routine, the service's own failures for
 * the operator, a missing table the loudest.
 */
import { describe, expect, it } from 'vitest';
import { translateDynamoError } from '../../lambdas/adapters/dynamo';
import { refusalLevel } from '../../lambdas/core/client-frame';
import {
  BadRequestError,
  ForbiddenError,
  GoneError,
  PushError,
  RateLimitedError,
  TableMissingError,
  ThrottledError,
  UnavailableError,
} from '../../lambdas/shared/errors';

/** An error shaped as the SDK's service exceptions are: a name and the answer's status. */
function sdkError(name: string, status?: number): Error {
  const error = new Error(`${name} from DynamoDB`);
  error.name = name;
  Object.assign(error, { $metadata: status === undefined ? {} : { httpStatusCode: status } });
  return error;
}

describe('translateDynamoError', () => {
  it.each([
    [
      'ProvisionedThroughputExceededException',
      400,
      ThrottledError,
      'throttled',
      'DynamoDB throttled PutItem',
    ],
    ['ThrottlingException', 400, ThrottledError, 'throttled', 'DynamoDB throttled PutItem'],
    ['RequestLimitExceeded', 400, ThrottledError, 'throttled', 'DynamoDB throttled PutItem'],
    ['InternalServerError', 500, UnavailableError, 'unavailable', 'DynamoDB unavailable during PutItem'],
    ['ServiceUnavailable', 503, UnavailableError, 'unavailable', 'DynamoDB unavailable during PutItem'],
    ['TimeoutError', undefined, UnavailableError, 'unavailable', 'DynamoDB unavailable during PutItem'],
    [
      'ResourceNotFoundException',
      400,
      TableMissingError,
      'unavailable',
      'DynamoDB unavailable during PutItem',
    ],
    ['ValidationException', 400, PushError, 'internal', 'DynamoDB rejected PutItem: ValidationException'],
    ['AccessDeniedException', 400, PushError, 'internal', 'DynamoDB rejected PutItem: AccessDeniedException'],
  ] as const)('%s (%s) becomes %s with code %s', (name, status, type, code, message) => {
    const cause = sdkError(name, status);
    const translated = translateDynamoError(cause, 'PutItem');
    expect(translated).toBeInstanceOf(type);
    expect(translated).toMatchObject({ code, message, cause });
  });

  it('keeps a PushError as it is', () => {
    const error = new GoneError('the connection is gone');
    expect(translateDynamoError(error, 'GetItem')).toBe(error);
  });
});

describe('refusalLevel', () => {
  it.each([
    [new BadRequestError('not JSON'), 'info'],
    [new ForbiddenError('not granted'), 'info'],
    [new GoneError('the connection is gone'), 'info'],
    [new RateLimitedError('too many frames'), 'info'],
    [new ThrottledError('DynamoDB throttled UpdateItem'), 'warn'],
    [new UnavailableError('DynamoDB unavailable during UpdateItem'), 'warn'],
    [new TableMissingError('DynamoDB unavailable during UpdateItem'), 'error'],
  ] as const)('logs a frame refused with %o at %s', (error, level) => {
    expect(refusalLevel(error)).toBe(level);
  });
});
