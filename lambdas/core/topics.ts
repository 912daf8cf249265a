import { LIMITS } from '../shared/limits';
import { TOPIC_PATTERN } from '../shared/protocol';

/** True when `topic` is a valid topic name (see {@link TOPIC_PATTERN}). */
export function isValidTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && TOPIC_PATTERN.test(topic);
}

/**
 * True when `grant` is a valid token grant: a topic name, or a prefix ending in `*`
 * (`orders.*`, or a lone `*` for every topic).
 */
export function isValidGrant(grant: unknown): grant is string {
  if (typeof grant !== 'string') return false;
  if (grant === '*') return true;
  if (grant.endsWith('*')) return TOPIC_PATTERN.test(grant.slice(0, -1));
  return TOPIC_PATTERN.test(grant);
}

/**
 * True when one of `grants` allows `topic`: an exact name, or a `prefix*` the topic starts with.
 *
 * @example
 * topicGranted('orders.eu', ['orders.*']) // true
 */
export function topicGranted(topic: string, grants: readonly string[]): boolean {
  for (const grant of grants) {
    if (grant.endsWith('*')) {
      if (topic.startsWith(grant.slice(0, -1))) return true;
    } else if (grant === topic) {
      return true;
    }
  }
  return false;
}

/** Validates a token's `topics` claim; `undefined` means no topic is granted. */
export function parseGrants(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > LIMITS.maxGrants) return undefined;
  if (!value.every(isValidGrant)) return undefined;
  return [...new Set(value as string[])];
}
