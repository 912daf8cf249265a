import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../lambdas/shared/errors';
import { LIMITS, TOKEN_QUERY_PARAM, TOPIC_PATTERN } from '../lambdas/shared/names';
import * as protocol from './protocol';

describe('the client protocol constants', () => {
  it('match the server names and limits they restate', () => {
    expect({ ...protocol }).toEqual({
      TOKEN_PARAM: TOKEN_QUERY_PARAM,
      TOPIC_PATTERN,
      IDLE_TIMEOUT_MS: LIMITS.idleTimeoutSeconds * 1000,
      MAX_CONNECTION_MS: LIMITS.maxConnectionSeconds * 1000,
      BAD_REQUEST: ERROR_CODES.badRequest,
      FORBIDDEN: ERROR_CODES.forbidden,
      GONE: ERROR_CODES.gone,
      UNAVAILABLE: ERROR_CODES.unavailable,
    });
  });
});
