import { describe, expect, it } from 'vitest';
import { standingRefusal } from '../../lambdas/core/revocation';

const UNTIL = Date.UTC(2026, 11, 3, 10, 0, 0);
const COOLING = `uid cooling off until ${new Date(UNTIL).toISOString()}: a connection of it was closed for flooding`;

describe('standingRefusal', () => {
  it.each([
    ['nothing stands', { iat: 100 }, {}, undefined],
    ['a token issued before the line', { iat: 99 }, { revokedBefore: 100 }, 'token revoked'],
    ['a token issued in the line’s second', { iat: 100 }, { revokedBefore: 100 }, 'token revoked'],
    ['a token issued after the line', { iat: 101 }, { revokedBefore: 100 }, undefined],
    [
      'a token without iat under a line',
      {},
      { revokedBefore: 100 },
      'token has no iat and its uid was revoked',
    ],
    ['a token without iat, no line', {}, {}, undefined],
    ['a cool-off', { iat: 101 }, { coolOffUntil: UNTIL }, COOLING],
    ['a cool-off, token without iat', {}, { coolOffUntil: UNTIL }, COOLING],
    [
      'a cool-off past a line the token is newer than',
      { iat: 101 },
      { revokedBefore: 100, coolOffUntil: UNTIL },
      COOLING,
    ],
    [
      'a cool-off and a line refusing the token',
      { iat: 100 },
      { revokedBefore: 100, coolOffUntil: UNTIL },
      'token revoked',
    ],
  ])('%s', (_, claims, standing, refusal) => {
    expect(standingRefusal(claims, standing)).toBe(refusal);
  });
});
