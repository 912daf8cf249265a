import { describe, expect, it } from 'vitest';
import { DEFAULT_RESUME_BUDGET } from '../../lambdas/core/resume';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { resumeBudgetFromEnv } from '../../lambdas/wiring';

const COUNT = ENV.resumesPerWindow;
const WINDOW = ENV.resumeWindowSeconds;
const PER_UID = ENV.resumesPerUidPerWindow;
const uidDefault = LIMITS.resumesPerUidPerWindow;

describe('resumeBudgetFromEnv', () => {
  it('falls back to the core default, the budget LIMITS gives', () => {
    expect(resumeBudgetFromEnv({})).toEqual(DEFAULT_RESUME_BUDGET);
    expect(DEFAULT_RESUME_BUDGET).toEqual({
      perWindow: LIMITS.resumesPerWindow,
      perUid: LIMITS.resumesPerUidPerWindow,
      windowMs: LIMITS.resumeWindowSeconds * 1000,
    });
  });

  it.each([
    [
      'all three set',
      { [COUNT]: '3', [PER_UID]: '9', [WINDOW]: '300' },
      { perWindow: 3, perUid: 9, windowMs: 300_000 },
    ],
    ['the count alone', { [COUNT]: '5' }, { perWindow: 5, perUid: uidDefault, windowMs: 60_000 }],
    ["the uid's count alone", { [PER_UID]: '40' }, { perWindow: 30, perUid: 40, windowMs: 60_000 }],
    ['the window alone', { [WINDOW]: '1' }, { perWindow: 30, perUid: uidDefault, windowMs: 1_000 }],
    [
      'empty values, as unset',
      { [COUNT]: '', [PER_UID]: '', [WINDOW]: '' },
      { perWindow: 30, perUid: uidDefault, windowMs: 60_000 },
    ],
    ['the longest window', { [WINDOW]: '7200' }, { perWindow: 30, perUid: uidDefault, windowMs: 7_200_000 }],
  ])('reads %s', (_, env, budget) => {
    expect(resumeBudgetFromEnv(env)).toEqual(budget);
  });

  it.each([
    [{ [COUNT]: '0' }, `environment variable ${COUNT} must be a positive integer, got "0"`],
    [{ [COUNT]: '2.5' }, `environment variable ${COUNT} must be a positive integer, got "2.5"`],
    [{ [COUNT]: 'ten' }, `environment variable ${COUNT} must be a positive integer, got "ten"`],
    [{ [PER_UID]: '0' }, `environment variable ${PER_UID} must be a positive integer, got "0"`],
    [{ [WINDOW]: '0' }, `environment variable ${WINDOW} must be a positive integer, got "0"`],
    [{ [WINDOW]: '-60' }, `environment variable ${WINDOW} must be a positive integer, got "-60"`],
    [{ [WINDOW]: '1.5' }, `environment variable ${WINDOW} must be a positive integer, got "1.5"`],
    [
      { [WINDOW]: '7201' },
      `environment variable ${WINDOW} must be at most 7200 (seconds, a connection's lifetime), got "7201"`,
    ],
    [
      { [WINDOW]: '60000' },
      `environment variable ${WINDOW} must be at most 7200 (seconds, a connection's lifetime), got "60000"`,
    ],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(() => resumeBudgetFromEnv(env)).toThrow(new Error(message));
  });
});
