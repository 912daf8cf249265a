import { LIMITS } from '../shared/limits';
import type { PastCoolOff, UidStanding } from './ports';

/**
 * How long a uid closed for flooding at `nowMs` cools off: `baseMs` (the stack's cool-off), or
 * twice its last one when that one ended less than `windowMs` ago, up to `maxMs`. A flood closed
 * again while its cool-off still stands (another connection of the same flood, frames already on
 * their way, another environment) is the same flood: it keeps the length it has.
 *
 * @example
 * nextCoolOffMs(undefined, now, 60_000)                                     // 60_000
 * nextCoolOffMs({ untilMs: now - 1_000, ms: 60_000 }, now, 60_000)          // 120_000: again, soon after
 * nextCoolOffMs({ untilMs: now + 1_000, ms: 60_000 }, now, 60_000)          // 60_000: the same flood
 */
export function nextCoolOffMs(
  last: PastCoolOff | undefined,
  nowMs: number,
  baseMs: number,
  maxMs = LIMITS.maxFloodCoolOffSeconds * 1000,
  windowMs = LIMITS.floodRepeatWindowSeconds * 1000,
): number {
  if (last === undefined || !(last.ms > 0) || nowMs - last.untilMs >= windowMs) return baseMs;
  if (last.untilMs > nowMs) return Math.max(baseMs, Math.min(last.ms, maxMs));
  return Math.max(baseMs, Math.min(2 * last.ms, maxMs));
}

/**
 * True when a revocation refuses the token: it was issued at or before `revokedBefore` (epoch
 * seconds), or it carries no `iat` to tell. Tokens have one-second resolution, so a token issued
 * in the revocation's own second is refused too: sign the new one a second later.
 */
export function isRevoked(claims: { readonly iat?: number }, revokedBefore: number | undefined): boolean {
  if (revokedBefore === undefined) return false;
  return claims.iat === undefined || claims.iat <= revokedBefore;
}

/**
 * Why the uid's standing refuses a new connection with this token, or `undefined` when nothing
 * does: its revocation refuses the token, or the uid is in a flood's cool-off. The authorizer and
 * `$connect`'s second read judge by this one rule, so a handshake either let through is refused
 * for the same reasons, with the same words.
 *
 * @example
 * standingRefusal({ iat: 100 }, { revokedBefore: 100 }); // 'token revoked'
 * standingRefusal({ iat: 101 }, { revokedBefore: 100 }); // undefined
 */
export function standingRefusal(
  claims: { readonly iat?: number },
  standing: UidStanding,
): string | undefined {
  if (isRevoked(claims, standing.revokedBefore)) {
    return claims.iat === undefined ? 'token has no iat and its uid was revoked' : 'token revoked';
  }
  if (standing.coolOffUntil !== undefined) {
    return `uid cooling off until ${new Date(standing.coolOffUntil).toISOString()}: a connection of it was closed for flooding`;
  }
  return undefined;
}
