import { GoneError, isRetryable } from '../shared/errors';
import { LIMITS } from '../shared/names';
import { type BackoffOptions, fullJitterDelay } from './backoff';
import { encodeMessage } from './frames';
import { type LogSettings, topicHasHistory, topicStream, uidStream } from './log';
import { concurrencyLimit, forEachBounded } from './pool';
import type { ConnectionStore, Gateway, MessageLog, ShardAudience, ShardRead, Target } from './ports';
import type { PublishRequest, PublishTarget } from './publish-request';
import { type JobQueue, type PublishRecords, planShardJobs, type QueuedResult } from './shard-jobs';

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
  /** Target uids with no live connection whose message waits in their log for the next resume. */
  readonly stored: number;
}

/** Observations the fan-out reports, for logs and metrics. */
export interface FanOutEvents {
  retry?(connectionId: string, attempt: number, error: unknown): void;
  failed?(connectionId: string, error: unknown): void;
  cleanupFailed?(connectionId: string, error: unknown): void;
}

/** How deliveries are made: shared by publishes and resumes. */
export interface DeliveryDeps {
  readonly store: ConnectionStore;
  readonly gateway: Gateway;
  /** Deliveries in flight at once. @default LIMITS.fanoutConcurrency */
  readonly concurrency?: number;
  /** Attempts per delivery, first included. @default LIMITS.sendAttempts */
  readonly attempts?: number;
  readonly backoff?: BackoffOptions;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly events?: FanOutEvents;
  /** @default Date.now */
  readonly now?: () => number;
  /** A connection younger than this that answers 410 keeps its records. @default LIMITS.connectGraceMs */
  readonly connectGraceMs?: number;
}

/** Everything a publish needs. */
export interface PublishDeps extends DeliveryDeps {
  /** Where uid messages (and history topics) are logged before delivery. @default no log */
  readonly log?: MessageLog;
  readonly logSettings?: LogSettings;
  /** Where big topic and broadcast publishes go as shard jobs. @default deliver everything inline */
  readonly queue?: JobQueue;
  readonly records?: PublishRecords;
  /** Target connections above which a publish is sharded. @default LIMITS.shardThreshold */
  readonly shardThreshold?: number;
}

/** One payload for one connection. */
export interface Delivery {
  readonly connectionId: string;
  readonly payload: string | Uint8Array;
  /** When the connection was made (epoch ms), if known; see {@link deliverOne} on 410. */
  readonly connectedAt?: number;
}

export type DeliveryOutcome = 'delivered' | 'gone' | 'failed';

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Finds the live connections a target names, without duplicates. */
export async function resolveTargets(
  to: PublishTarget,
  store: ConnectionStore,
  nowMs: number,
): Promise<Target[]> {
  if ('uid' in to) return unique(await store.byUid(to.uid, nowMs));
  if ('uids' in to) return unique((await Promise.all(to.uids.map((uid) => store.byUid(uid, nowMs)))).flat());
  if ('topic' in to) return unique(await store.byTopic(to.topic, nowMs));
  return unique((await readShards(to, store, nowMs)).flatMap((read) => read.targets));
}

/**
 * A topic's or the broadcast's live connections, read one shard at a time, in parallel; each read
 * stops after `limit` records (see {@link ConnectionStore.readShard}).
 */
export function readShards(
  to: ShardAudience,
  store: ConnectionStore,
  nowMs: number,
  limit = Number.POSITIVE_INFINITY,
): Promise<ShardRead[]> {
  return Promise.all(
    Array.from({ length: LIMITS.shards }, (_, shard) => store.readShard(to, shard, nowMs, limit)),
  );
}

function unique(found: readonly Target[]): Target[] {
  const seen = new Set<string>();
  return found.filter((target) => {
    if (seen.has(target.connectionId)) return false;
    seen.add(target.connectionId);
    return true;
  });
}

/**
 * Publishes one validated request. Messages to uids (and to topics with history) are logged
 * first, so a client that is away gets them on resume; then the live connections are looked up
 * and delivered to with bounded concurrency. Throttles and 5xx are retried with full-jitter
 * backoff, connections that answer 410 are deleted, and every outcome is counted. One failure
 * never aborts the rest. Store and log failures propagate, so the caller can fail the invocation
 * and let it be retried.
 */
export async function publish(
  request: PublishRequest,
  deps: PublishDeps,
): Promise<PublishResult | QueuedResult> {
  const ts = (deps.now ?? Date.now)();
  const { id, to, dataJson } = request;
  const log = deps.log;
  const topic = 'topic' in to ? to.topic : undefined;

  // Log before looking up connections: a client that connects in between then finds the
  // message on resume, and dedup by seq hides the rare double delivery.
  let payloadFor: (target: Target) => string;
  let uids: readonly string[] = [];
  let found: Target[] | undefined;
  if ('uid' in to || 'uids' in to) {
    uids = 'uid' in to ? [to.uid] : to.uids;
    const seqs = new Map<string, number>();
    if (log !== undefined) {
      await forEachBounded(uids, 16, async (uid) => {
        seqs.set(uid, await log.append(uidStream(uid), { id, dataJson, ts }, ts));
      });
    }
    const payloads = new Map<string, string>();
    payloadFor = (target) => {
      let payload = payloads.get(target.uid);
      if (payload === undefined) {
        payload = encodeMessage({ id, seq: seqs.get(target.uid), dataJson, ts });
        payloads.set(target.uid, payload);
      }
      return payload;
    };
  } else {
    let seq: number | undefined;
    if (
      log !== undefined &&
      topic !== undefined &&
      deps.logSettings &&
      topicHasHistory(topic, deps.logSettings)
    ) {
      seq = await log.append(topicStream(topic), { id, topic, dataJson, ts }, ts);
    }
    const payload = encodeMessage({ id, topic, seq, dataJson, ts });
    payloadFor = () => payload;
    const { queue, records } = deps;
    if (queue !== undefined && records !== undefined && ('topic' in to || 'all' in to)) {
      // One read per shard both decides and, below the threshold, is the target list itself. Each
      // read stops after threshold + 1 records: one shard past that already decides, so a big
      // audience is read once, by the workers, instead of twice.
      const target = 'topic' in to ? { topic: to.topic } : { all: true as const };
      const threshold = deps.shardThreshold ?? LIMITS.shardThreshold;
      const reads = await readShards(target, deps.store, ts, threshold + 1);
      const sharded = await maybeShard(id, target, payload, ts, reads, threshold, {
        ...deps,
        queue,
        records,
      });
      if (sharded !== undefined) return sharded;
      found = unique(reads.flatMap((read) => read.targets));
    }
  }

  const targets = found ?? (await resolveTargets(to, deps.store, ts));
  const counts = await fanOut(
    targets.map((target) => ({
      connectionId: target.connectionId,
      payload: payloadFor(target),
      ...(target.connectedAt === undefined ? {} : { connectedAt: target.connectedAt }),
    })),
    deps,
  );
  const live = new Set(targets.map((t) => t.uid));
  const stored = log === undefined ? 0 : uids.filter((uid) => !live.has(uid)).length;
  return { id, connections: targets.length, ...counts, stored };
}

/**
 * Above the threshold, or when a shard read stopped at its limit, records the publish and queues
 * one job per non-empty shard instead of delivering. A shard read to its limit counts as
 * non-empty even if every record it saw had expired: the rest is unread.
 */
async function maybeShard(
  id: string,
  to: ShardAudience,
  payload: string,
  ts: number,
  reads: readonly ShardRead[],
  threshold: number,
  deps: PublishDeps & { queue: JobQueue; records: PublishRecords },
): Promise<QueuedResult | undefined> {
  const counts = reads.map((read) =>
    read.complete ? read.targets.length : Math.max(1, read.targets.length),
  );
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= threshold && reads.every((read) => read.complete)) return undefined;
  const jobs = planShardJobs(id, to, payload, counts);
  // The record exists before any job runs, so a status read never misses a shard.
  await deps.records.create(
    id,
    jobs.map((j) => j.shard),
    ts,
  );
  await deps.queue.enqueue(jobs);
  return { id, queued: true, shards: jobs.length };
}

/** The same gateway with every send run through `around` (which must call `send` once). */
export function aroundSends(gateway: Gateway, around: (send: () => Promise<void>) => Promise<void>): Gateway {
  return {
    send: (connectionId, data) => around(() => gateway.send(connectionId, data)),
    info: (connectionId) => gateway.info(connectionId),
    close: (connectionId) => gateway.close(connectionId),
  };
}

/**
 * The same gateway with at most `limit` sends in flight, shared by everyone who uses it (backoff
 * sleeps between attempts hold no slot).
 */
export function limitSends(gateway: Gateway, limit: number): Gateway {
  return aroundSends(gateway, concurrencyLimit(limit));
}

/**
 * Delivers one payload to one connection: retries throttles and 5xx with full-jitter backoff,
 * deletes the connection's records on 410, and reports the outcome instead of throwing.
 */
export async function deliverOne(delivery: Delivery, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const attempts = deps.attempts ?? LIMITS.sendAttempts;
  const { connectionId, payload } = delivery;
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.gateway.send(connectionId, payload);
      return 'delivered';
    } catch (error) {
      if (error instanceof GoneError) {
        // API Gateway answers 410 until `$connect` has returned, but the record is written inside
        // `$connect`: deleting a connection that young would orphan a socket about to open. It
        // resumes from the log once open; if it never opens, `$disconnect` or the TTL removes it.
        if (
          delivery.connectedAt !== undefined &&
          (deps.now ?? Date.now)() - delivery.connectedAt < (deps.connectGraceMs ?? LIMITS.connectGraceMs)
        ) {
          return 'gone';
        }
        try {
          await deps.store.remove(connectionId);
        } catch (cleanupError) {
          // The TTL still removes the record; the delivery outcome stays "gone".
          deps.events?.cleanupFailed?.(connectionId, cleanupError);
        }
        return 'gone';
      }
      if (isRetryable(error) && attempt < attempts) {
        deps.events?.retry?.(connectionId, attempt, error);
        await (deps.sleep ?? realSleep)(
          fullJitterDelay(attempt - 1, deps.backoff, deps.random ?? Math.random),
        );
        continue;
      }
      deps.events?.failed?.(connectionId, error);
      return 'failed';
    }
  }
}

/** Delivers many payloads with bounded concurrency and counts the outcomes. */
export async function fanOut(
  deliveries: readonly Delivery[],
  deps: DeliveryDeps,
): Promise<{ delivered: number; gone: number; failed: number }> {
  const counts = { delivered: 0, gone: 0, failed: 0 };
  await forEachBounded(deliveries, deps.concurrency ?? LIMITS.fanoutConcurrency, async (delivery) => {
    counts[await deliverOne(delivery, deps)]++;
  });
  return counts;
}
