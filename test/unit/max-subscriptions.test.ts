import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { maxSubscriptionsFromEnv } from '../../lambdas/wiring';

const CAP = ENV.maxSubscriptions;

describe('maxSubscriptionsFromEnv', () => {
  it.each([
    ['unset, as the default', {}, LIMITS.maxSubscriptions],
    ['one', { [CAP]: '1' }, 1],
    [
      'the ceiling exactly',
      { [CAP]: String(LIMITS.maxSubscriptionsCeiling) },
      LIMITS.maxSubscriptionsCeiling,
    ],
  ])('reads %s', (_, env, cap) => {
    expect(maxSubscriptionsFromEnv(env)).toBe(cap);
  });

  it.each([
    [{ [CAP]: '0' }, `environment variable ${CAP} must be a positive integer, got "0"`],
    [
      { [CAP]: String(LIMITS.maxSubscriptionsCeiling + 1) },
      `environment variable ${CAP} must be at most 1000 (the connection record lists every subscribed topic, within DynamoDB's 400 KB per item), got "1001"`,
    ],
  ])('refuses %j at cold start, as the stack prop is refused at synth', (env, message) => {
    expect(() => maxSubscriptionsFromEnv(env)).toThrow(new Error(message));
  });
});
