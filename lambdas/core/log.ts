import { LIMITS } from '../shared/limits';
import { STREAM } from '../shared/tables';
import type { LoggedMessage, LogRead } from './ports';
import { topicGranted } from './topics';

/** The log stream of a uid. */
export function uidStream(uid: string): string {
  return STREAM.uid(uid);
}

/** The log stream of a topic. */
export function topicStream(topic: string): string {
  return STREAM.topic(topic);
}

/** Message-log settings. */
export interface LogSettings {
  /** Seconds a message stays resumable. */
  readonly retentionSeconds: number;
  /** Messages kept per stream; older ones are trimmed as new ones arrive. */
  readonly maxMessages: number;
  /** Topic names or `prefix*` patterns whose messages are logged. */
  readonly topicHistory: readonly string[];
}

/** True when a topic's messages are kept for resume. */
export function topicHasHistory(topic: string, settings: LogSettings): boolean {
  return topicGranted(topic, settings.topicHistory);
}

/** Expiry (epoch seconds) of a message logged at `nowMs`. */
export function logExpiresAt(nowMs: number, settings: LogSettings): number {
  return Math.ceil(nowMs / 1000) + settings.retentionSeconds;
}

/**
 * True when a resume from `since` cannot be complete for a reason other than a missing seq below a
 * stored message (see {@link holeKind}): a newer message expired, or the counter is more than a
 * full log ahead with nothing stored (trimmed). A counter merely ahead of the stored messages is
 * not a gap: that publish has taken its seq and is still writing, and its message arrives live.
 */
export function hasGap(since: number, read: LogRead, maxMessages: number): boolean {
  if (since >= read.latest) return false;
  if (read.expired === true) return true;
  return read.latest - since > maxMessages && read.messages.length === 0;
}

/**
 * What a seq missing from a stream's log below a stored message (`next`) is:
 * - `trimmed`: it fell out of the last `maxMessages` of the stream;
 * - `expired`: the read skipped an expired message, and cannot say which seq it was: it may be this;
 * - `pending`: a publish took it and has not stored it yet, while a publish that took a later seq
 *   stored first. Possible while `next` is younger than {@link writeWindowMs}.
 * - `lost`: its publish ended without storing it (only a retry keeping its seq could still).
 */
export type HoleKind = 'trimmed' | 'expired' | 'pending' | 'lost';

/** Classifies the missing `seq` below `next` in `read` (see {@link HoleKind}). */
export function holeKind(
  seq: number,
  next: Pick<LoggedMessage, 'ts'>,
  read: Pick<LogRead, 'latest' | 'expired'>,
  nowMs: number,
  maxMessages: number,
  writeWindow: number,
): HoleKind {
  if (seq <= read.latest - maxMessages) return 'trimmed';
  if (read.expired === true) return 'expired';
  return nowMs - next.ts < writeWindow ? 'pending' : 'lost';
}

/**
 * How long after a stored message's `ts` a lower seq may still be stored, for a publish function
 * of `publishTimeoutMs`. The lower seq was taken before the message's own, which its publish took
 * at most one timeout after `ts`; the lower one's publish stores within one timeout of taking it.
 * Clocks of two functions may differ by {@link LIMITS.clockSkewMs}.
 */
export function writeWindowMs(publishTimeoutMs: number): number {
  return 2 * publishTimeoutMs + LIMITS.clockSkewMs;
}

/** Parses the comma-separated topic-history setting. */
export function parseTopicHistory(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
