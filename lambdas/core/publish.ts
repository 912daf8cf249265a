import { LIMITS } from '../shared/limits';
import { type Delivery, type DeliveryDeps, fanOut } from './delivery';
import { encodeMessage } from './frames';
import { type LogSettings, topicHasHistory, topicStream, uidStream } from './log';
import { forEachBounded } from './pool';
import type { MessageLog, ShardAudience, Target } from './ports';
import type { PublishRequest } from './publish-request';
import { type JobQueue, type PublishRecords, type QueuedResult, shardIfLarge } from './shard-jobs';
import { readShards, resolveTargets, unique } from './targets';

/** What a publish delivered inline reports back. The field names are the README's contract. */
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
  /** Never set: a {@link QueuedResult} is the one with `queued: true`. */
  readonly queued?: never;
}

/** What a publish answers: delivered inline, or queued as shard jobs (`queued: true`). */
export type PublishOutcome = PublishResult | QueuedResult;

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

/**
 * Publishes one validated request: to uids through {@link publishToUids}, to a topic or everyone
 * through {@link publishToAudience}. Deliveries are made with bounded concurrency; throttles and
 * 5xx are retried with full-jitter backoff, connections that answer 410 are deleted, and every
 * outcome is counted. One failure never aborts the rest. Store and log failures propagate, so the
 * caller can fail the invocation and let it be retried.
 */
export function publish(request: PublishRequest, deps: PublishDeps): Promise<PublishOutcome> {
  const ts = (deps.now ?? Date.now)();
  const { to } = request;
  if ('uid' in to) return publishToUids(request, [to.uid], deps, ts);
  if ('uids' in to) return publishToUids(request, to.uids, deps, ts);
  return publishToAudience(request, 'topic' in to ? { topic: to.topic } : { all: true }, deps, ts);
}

/**
 * A push to uids: each uid's message is logged (taking its next seq), then the uids' live
 * connections are looked up and delivered to; a uid with none counts as `stored`. Logging comes
 * before the lookup: a client that connects in between then finds the message on resume, and
 * dedup by seq hides the rare double delivery.
 */
export async function publishToUids(
  request: PublishRequest,
  uids: readonly string[],
  deps: PublishDeps,
  ts: number,
): Promise<PublishResult> {
  const { id, dataJson } = request;
  const seqs = new Map<string, number>();
  const { log } = deps;
  if (log !== undefined) {
    await forEachBounded(uids, 16, async (uid) => {
      seqs.set(uid, await log.append(uidStream(uid), { id, dataJson, ts }, ts));
    });
  }
  const targets = await resolveTargets(request.to, deps.store, ts);
  const live = new Set(targets.map((target) => target.uid));
  const payloads = new Map(
    [...live].map((uid) => [uid, encodeMessage({ id, seq: seqs.get(uid), dataJson, ts })]),
  );
  const counts = await fanOut(
    targets.map((target) => deliveryTo(target, payloads.get(target.uid) as string)),
    deps,
  );
  const stored = log === undefined ? 0 : uids.filter((uid) => !live.has(uid)).length;
  return { id, connections: targets.length, ...counts, stored };
}

/**
 * A publish to a topic's subscribers or to everyone: one payload for all. A topic that keeps
 * history logs it first; with a queue configured, an audience above the threshold becomes shard
 * jobs (see {@link shardIfLarge}) and the rest is delivered inline.
 */
export async function publishToAudience(
  request: PublishRequest,
  to: ShardAudience,
  deps: PublishDeps,
  ts: number,
): Promise<PublishOutcome> {
  const { id, dataJson } = request;
  const topic = 'topic' in to ? to.topic : undefined;
  let seq: number | undefined;
  if (
    deps.log !== undefined &&
    topic !== undefined &&
    deps.logSettings &&
    topicHasHistory(topic, deps.logSettings)
  ) {
    seq = await deps.log.append(topicStream(topic), { id, topic, dataJson, ts }, ts);
  }
  const payload = encodeMessage({ id, topic, seq, dataJson, ts });

  let targets: Target[];
  const { queue, records } = deps;
  if (queue !== undefined && records !== undefined) {
    // One read per shard both decides and, below the threshold, is the target list itself. Each
    // read stops after threshold + 1 records: one shard past that already decides, so a big
    // audience is read once, by the workers, instead of twice.
    const threshold = deps.shardThreshold ?? LIMITS.shardThreshold;
    const reads = await readShards(to, deps.store, ts, threshold + 1);
    const queued = await shardIfLarge(id, to, payload, ts, reads, threshold, { queue, records });
    if (queued !== undefined) return queued;
    targets = unique(reads.flatMap((read) => read.targets));
  } else {
    targets = await resolveTargets(to, deps.store, ts);
  }
  const counts = await fanOut(
    targets.map((target) => deliveryTo(target, payload)),
    deps,
  );
  return { id, connections: targets.length, ...counts, stored: 0 };
}

function deliveryTo(target: Target, payload: string): Delivery {
  return {
    connectionId: target.connectionId,
    payload,
    ...(target.connectedAt === undefined ? {} : { connectedAt: target.connectedAt }),
    ...(target.tokenExp === undefined ? {} : { tokenExp: target.tokenExp }),
  };
}
