import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ServerErrorCode } from '../../client/protocol';
import * as protocol from '../../client/protocol';
import { CONNECTION_LIMIT_REASON } from '../../lambdas/core/sessions';
import { ERROR_CODES, type ErrorCode } from '../../lambdas/shared/errors';
import {
  EPOCH_PATTERN,
  INSTANCE_QUERY_PARAM,
  TOKEN_QUERY_PARAM,
  TOPIC_PATTERN,
} from '../../lambdas/shared/protocol';
import { QUOTAS } from '../../lambdas/shared/quotas';

describe('the client protocol constants', () => {
  it('match the server names and limits they restate', () => {
    expect({ ...protocol }).toEqual({
      TOKEN_PARAM: TOKEN_QUERY_PARAM,
      INSTANCE_PARAM: INSTANCE_QUERY_PARAM,
      TOPIC_PATTERN,
      EPOCH_PATTERN,
      IDLE_TIMEOUT_MS: QUOTAS.idleTimeoutSeconds * 1000,
      MAX_CONNECTION_MS: QUOTAS.maxConnectionSeconds * 1000,
      BAD_REQUEST: ERROR_CODES.badRequest,
      FORBIDDEN: ERROR_CODES.forbidden,
      GONE: ERROR_CODES.gone,
      UNAVAILABLE: ERROR_CODES.unavailable,
      RATE_LIMITED: ERROR_CODES.rateLimited,
      CONNECTION_LIMIT: CONNECTION_LIMIT_REASON,
    });
  });

  it('restates exactly the error codes the server sends', () => {
    // Checked by tsc (npm run typecheck): a code added on one side only fails to compile.
    expectTypeOf<ServerErrorCode>().toEqualTypeOf<ErrorCode>();
  });
});
