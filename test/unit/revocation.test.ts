import { describe, expect, it } from 'vitest';
import { nextCoolOffMs, standingRefusal } from '../../lambdas/core/revocation';
import { LIMITS } from '../../lambdas/shared/limits';

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

describe('nextCoolOffMs', () => {
  const now = 1_700_000_000_000;
  const base = 60_000;
  const max = LIMITS.maxFloodCoolOffSeconds * 1000;
  const window = LIMITS.floodRepeatWindowSeconds * 1000;
  it.each([
    ['no cool-off before', undefined, base],
    ['the last one ended just now', { untilMs: now, ms: base }, 2 * base],
    ['ended a second ago', { untilMs: now - 1_000, ms: base }, 2 * base],
    ['a doubled one ended', { untilMs: now - 1_000, ms: 2 * base }, 4 * base],
    ['at the cap already', { untilMs: now - 1_000, ms: max }, max],
    ['past the cap would be', { untilMs: now - 1_000, ms: 3 * base }, max],
    ['ended just inside the window', { untilMs: now - window + 1, ms: 2 * base }, 4 * base],
    ['ended a window ago', { untilMs: now - window, ms: 4 * base }, base],
    ['still standing: the same flood, closed again', { untilMs: now + 1, ms: 2 * base }, 2 * base],
    ['still standing, shorter than the base now configured', { untilMs: now + 1, ms: 10_000 }, base],
    ['a length that is no number of ms', { untilMs: now - 1_000, ms: Number.NaN }, base],
    ['a zero length', { untilMs: now - 1_000, ms: 0 }, base],
  ])('%s', (_, last, expected) => {
    expect(nextCoolOffMs(last, now, base)).toBe(expected);
  });

  it('never goes past the cap, however often the uid floods again', () => {
    let last: { untilMs: number; ms: number } | undefined;
    let t = now;
    const lengths: number[] = [];
    for (let flood = 0; flood < 6; flood++) {
      const ms = nextCoolOffMs(last, t, base);
      lengths.push(ms);
      last = { untilMs: t + ms, ms };
      t = last.untilMs + 20_000; // floods again 20 s after each cool-off ends
    }
    expect(lengths).toEqual([base, 2 * base, 4 * base, max, max, max]);
  });
});
