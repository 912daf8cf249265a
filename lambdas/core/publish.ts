import { GoneError, isRetryable } from '../shared/errors';
import { LIMITS } from '../shared/names';
import { type BackoffOptions, fullJitterDelay } from './backoff';
import { encodeFrame, messageFrame } from './frames';
import { forEachBounded } from './pool';
import type { ConnectionStore, Gateway, Target } from './ports';
import type { PublishRequest, PublishTarget } from './publish-request';

/** What a publish reports back. The field names are the README's contract. */
export interface PublishResult {
  readonly id: string;
  /** Live connections targeted. */
  readonly connections: number;
  /** Accepted by API Gateway. */
  readonly delivered: number;
  /** Answered 410; their records were deleted. */
  readonly gone: number;
  /** Still failing after every retry, or refused for good (403, 413). */
  readonly failed: number;
}

/** Observations the fan-out reports, for logs and metrics. */
export interface FanOutEvents {
  retry?(connectionId: string, attempt: number, error: unknown): void;
  failed?(connectionId: string, error: unknown): void;
  cleanupFailed?(connectionId: string, error: unknown): void;
}

/** Everything a publish needs. */
export interface PublishDeps {
  readonly store: ConnectionStore;
  readonly gateway: Gateway;
  /** Deliveries in flight at once. @default LIMITS.fanoutConcurrency */
  readonly concurrency?: number;
  /** Attempts per delivery, first included. @default LIMITS.sendAttempts */
  readonly attempts?: number;
  readonly backoff?: BackoffOptions;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly events?: FanOutEvents;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Finds the live connections a target names, without duplicates. */
export async function resolveTargets(
  to: PublishTarget,
  store: ConnectionStore,
  nowMs: number,
): Promise<Target[]> {
  let found: Target[];
  if ('uid' in to) {
    found = await store.byUid(to.uid, nowMs);
  } else if ('uids' in to) {
    found = (await Promise.all(to.uids.map((uid) => store.byUid(uid, nowMs)))).flat();
  } else if ('topic' in to) {
    found = await store.byTopic(to.topic, nowMs);
  } else {
    const shards = Array.from({ length: LIMITS.shards }, (_, shard) => store.byShard(shard, nowMs));
    found = (await Promise.all(shards)).flat();
  }
  const seen = new Set<string>();
  return found.filter((target) => {
    if (seen.has(target.connectionId)) return false;
    seen.add(target.connectionId);
    return true;
  });
}

/**
 * Publishes one validated request: finds the live connections, delivers with bounded concurrency,
 * retries throttles and 5xx with full-jitter backoff, deletes connections that answer 410, and
 * counts every outcome. One failure never aborts the rest. Store read failures propagate, so the
 * caller can fail the invocation and let it be retried.
 */
export async function publish(request: PublishRequest, deps: PublishDeps): Promise<PublishResult> {
  const now = deps.now ?? Date.now;
  const ts = now();
  const targets = await resolveTargets(request.to, deps.store, ts);
  const topic = 'topic' in request.to ? request.to.topic : undefined;
  const payload = encodeFrame(messageFrame(request.id, request.data, ts, topic));
  const counts = await fanOut(targets, payload, deps);
  return { id: request.id, connections: targets.length, ...counts };
}

/** Delivers one payload to many connections; see {@link publish}. */
export async function fanOut(
  targets: readonly Target[],
  payload: string | Uint8Array,
  deps: PublishDeps,
): Promise<{ delivered: number; gone: number; failed: number }> {
  const attempts = deps.attempts ?? LIMITS.sendAttempts;
  const sleep = deps.sleep ?? realSleep;
  const random = deps.random ?? Math.random;
  let delivered = 0;
  let gone = 0;
  let failed = 0;

  await forEachBounded(targets, deps.concurrency ?? LIMITS.fanoutConcurrency, async ({ connectionId }) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.gateway.send(connectionId, payload);
        delivered++;
        return;
      } catch (error) {
        if (error instanceof GoneError) {
          gone++;
          try {
            await deps.store.remove(connectionId);
          } catch (cleanupError) {
            // The TTL still removes the record; the delivery outcome stays "gone".
            deps.events?.cleanupFailed?.(connectionId, cleanupError);
          }
          return;
        }
        if (isRetryable(error) && attempt < attempts) {
          deps.events?.retry?.(connectionId, attempt, error);
          await sleep(fullJitterDelay(attempt - 1, deps.backoff, random));
          continue;
        }
        failed++;
        deps.events?.failed?.(connectionId, error);
        return;
      }
    }
  });
  return { delivered, gone, failed };
}
