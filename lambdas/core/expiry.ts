import { LIMITS } from '../shared/limits';
import { QUOTAS } from '../shared/quotas';

/**
 * Expiry (epoch seconds, the table's TTL attribute) of a record last seen at `lastSeenAtMs`.
 *
 * API Gateway never keeps a connection past 2 hours, so `lastSeenAt + 2 h + margin` can never
 * expire a live connection, and each ping pushes it forward. Frame-based idle windows are not used:
 * server pushes alone keep a socket open, so a receive-only client would be dropped too early.
 */
export function expiresAtFor(lastSeenAtMs: number): number {
  return Math.ceil(lastSeenAtMs / 1000) + QUOTAS.maxConnectionSeconds + LIMITS.expiryMarginSeconds;
}

/**
 * True while a record may still belong to an open connection. DynamoDB deletes expired items
 * late (typically within two days), so every read checks both the TTL attribute and the hard
 * 2-hour ceiling measured from `connectedAt`.
 */
export function isLive(record: { expiresAt: number; connectedAt: number }, nowMs: number): boolean {
  if (record.expiresAt * 1000 <= nowMs) return false;
  const ceilingMs = record.connectedAt + (QUOTAS.maxConnectionSeconds + LIMITS.expiryMarginSeconds) * 1000;
  return ceilingMs > nowMs;
}
