import { STREAM } from '../shared/tables';
import type { LogRead } from './ports';
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
 * True when a resume from `since` cannot be complete: the first message still stored is not
 * `since + 1`, a newer message expired, or the counter is more than a full log ahead (trimmed).
 * A counter merely ahead of the stored messages is not a gap: that publish has taken its seq and
 * is still writing, and its message arrives live.
 */
export function hasGap(since: number, read: LogRead, maxMessages: number): boolean {
  if (since >= read.latest) return false;
  const first = read.messages[0];
  if (first !== undefined && first.seq > since + 1) return true;
  if (read.expired === true) return true;
  return read.latest - since > maxMessages && first === undefined;
}

/** Parses the comma-separated topic-history setting. */
export function parseTopicHistory(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
