/** What the server SDK's tests expect of a call that must fail: a PushApiError, and nothing else. */
import { expect } from 'vitest';
import { PushApiError } from '../../server/src/index';

/** Resolves to the PushApiError `promise` rejects with; fails the test if it resolves. */
export async function refusal(promise: Promise<unknown>): Promise<PushApiError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a PushApiError, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(PushApiError);
  return error as PushApiError;
}
