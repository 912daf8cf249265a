import { LIMITS } from '../shared/limits';
import { type Delivery, type DeliveryDeps, fanOut } from './delivery';
import { encodeMessage } from './frames';
import { type LogSettings, topicHasHistory, topicStream, uidStream } from './log';
import { forEachBounded } from './pool';
import type { MessageLog, ShardAudience, StreamPosition, Target } from './ports';
import type { PublishRequest } from './publish-request';
import {
  decisionReadLimit,
  type JobQueue,
  type PublishRecords,
  type QueuedResult,
  shardIfLarge,
} from './shard-jobs';
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

/**
 * Whether this attempt may publish, decided while the uid lookup already runs: go ahead (with the
 * seqs an earlier failed attempt took, which this one fills in as it takes new ones), or answer an
 * earlier attempt's result instead and send nothing. Refusals (another body under the same id, an
 * attempt still running) are thrown.
 */
export type Admit = () => Promise<Admission | { readonly replay: PublishOutcome }>;

/**
 * A seq a publish took in a uid's log, with the epoch it was taken in (none in records written
 * before epochs were kept: such a seq is reused as it is).
 */
export interface TakenSeq {
  readonly seq: number;
  readonly epoch?: string;
}

/** A publish that may go ahead. */
export interface Admission {
  /**
   * Seqs by uid, with their epochs: reused from an earlier attempt, or taken by this one (set as
   * they are taken).
   */
  readonly seqs: Map<string, TakenSeq>;
  /**
   * An earlier attempt of this publish ran (it failed, or died): it may have planned shard jobs
   * that a retry must queue however small the audience is now. @default false
   */
  readonly retried?: boolean;
}

/** Goes ahead at once, taking fresh seqs: a publish with no id records. */
const admitAll: Admit = async () => ({ seqs: new Map() });

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
export async function publish(
  request: PublishRequest,
  deps: PublishDeps,
  admit: Admit = admitAll,
): Promise<PublishOutcome> {
  const ts = (deps.now ?? Date.now)();
  const { to } = request;
  if ('uid' in to) return publishToUids(request, [to.uid], deps, ts, admit);
  if ('uids' in to) return publishToUids(request, to.uids, deps, ts, admit);
  const admission = await admit();
  if ('replay' in admission) return admission.replay;
  return publishToAudience(request, 'topic' in to ? { topic: to.topic } : { all: true }, deps, ts, admission);
}

/**
 * The seq this publish stores its message under in `stream`, recorded in `seqs` under `key` as
 * soon as it is known, so that a failure after it hands the seq to the retry: the seq an earlier
 * attempt took (in `seqs` already), in the epoch it was taken in only, else the stream's next one.
 * A stream reset since counts from 1 again, and the old seq would land among the new epoch's, out
 * of order or on top of one of them. A retry is rare: one write each.
 */
async function takeSeq(
  log: MessageLog,
  stream: string,
  key: string,
  seqs: Map<string, TakenSeq>,
): Promise<StreamPosition> {
  const taken = seqs.get(key);
  if (taken !== undefined) {
    const epoch = await log.epoch(stream);
    if (taken.epoch === undefined || taken.epoch === epoch) {
      seqs.set(key, { seq: taken.seq, epoch });
      return { seq: taken.seq, epoch };
    }
  }
  const { seq, epoch } = await log.reserve(stream);
  seqs.set(key, { seq, epoch });
  return { seq, epoch };
}

/**
 * A push to uids, in two sequential rounds of DynamoDB calls before the first post:
 * 1. the uids' live connections are looked up while {@link Admit} decides (the id's claim);
 * 2. each uid's next seq is taken from its log's counter;
 * then the posts go out while each message is stored under its seq. A uid with no live connection
 * counts as `stored`.
 *
 * The lookup runs before the seq is taken and the message stored, so a client that connects in
 * between is not posted to, and its `resume` may find the counter ahead of the stored messages:
 * resume then reports the last seq it replayed, not the counter, and the next `pong` carries the
 * counter, so the client resumes again within one heartbeat and gets the message. The lookup
 * reads an index that DynamoDB updates asynchronously, which opens the same window whatever the
 * order, and the same heartbeat closes it. Dedup by `id` and seq hides the rare double delivery.
 */
export async function publishToUids(
  request: PublishRequest,
  uids: readonly string[],
  deps: PublishDeps,
  ts: number,
  admit: Admit = admitAll,
): Promise<PublishOutcome> {
  const { id, dataJson } = request;
  // Both settle before either failure is rethrown: a claim answered after the lookup failed is
  // still one the caller must mark failed, or it stays `running` and refuses every retry as
  // `unavailable` until its deadline (the function's timeout, past Lambda's async retries).
  const [admitted, found] = await Promise.allSettled([admit(), resolveTargets(request.to, deps.store, ts)]);
  if (admitted.status === 'rejected') throw admitted.reason;
  const admission = admitted.value;
  if ('replay' in admission) return admission.replay;
  if (found.status === 'rejected') throw found.reason;
  const targets = found.value;
  const { seqs } = admission;
  const { log } = deps;
  if (log !== undefined) {
    await forEachBounded(uids, 16, async (uid) => {
      await takeSeq(log, uidStream(uid), uid, seqs);
    });
  }
  const stores =
    log === undefined
      ? Promise.resolve()
      : forEachBounded(uids, 16, (uid) =>
          log.store(uidStream(uid), { id, dataJson, ts, ...(seqs.get(uid) as TakenSeq) }, ts),
        );
  const live = new Set(targets.map((target) => target.uid));
  const payloads = new Map(
    [...live].map((uid) => [uid, encodeMessage({ id, ...seqs.get(uid), dataJson, ts })]),
  );
  // Both settle before either failure is rethrown, so nothing is still writing when the caller hears.
  const [logged, sent] = await Promise.allSettled([
    stores,
    fanOut(
      targets.map((target) => deliveryTo(target, payloads.get(target.uid) as string)),
      deps,
    ),
  ]);
  if (logged.status === 'rejected') throw logged.reason;
  if (sent.status === 'rejected') throw sent.reason;
  const counts = sent.value;
  const stored = log === undefined ? 0 : uids.filter((uid) => !live.has(uid)).length;
  return { id, connections: targets.length, ...counts, stored };
}

/**
 * A publish to a topic's subscribers or to everyone: one payload for all. A topic that keeps
 * history logs it first, under the seq an earlier attempt took if one did (kept in the admission's
 * seqs under the stream's name: a topic publish has no uids); with a queue configured, an audience
 * above the threshold becomes shard jobs (see {@link shardIfLarge}) and the rest is delivered
 * inline. `admission.retried`: an earlier attempt of this publish ran, and may have planned shard
 * jobs.
 */
export async function publishToAudience(
  request: PublishRequest,
  to: ShardAudience,
  deps: PublishDeps,
  ts: number,
  admission: Admission = { seqs: new Map() },
): Promise<PublishOutcome> {
  const { id, dataJson } = request;
  const topic = 'topic' in to ? to.topic : undefined;
  let position: Partial<StreamPosition> = {};
  if (
    deps.log !== undefined &&
    topic !== undefined &&
    deps.logSettings &&
    topicHasHistory(topic, deps.logSettings)
  ) {
    const stream = topicStream(topic);
    const taken = await takeSeq(deps.log, stream, stream, admission.seqs);
    await deps.log.store(stream, { id, topic, dataJson, ts, ...taken }, ts);
    position = taken;
  }
  const payload = encodeMessage({ id, topic, ...position, dataJson, ts });

  let targets: Target[];
  const { queue, records } = deps;
  if (queue !== undefined && records !== undefined) {
    // One read per shard both decides and, below the threshold, is the target list itself. Each
    // read stops at twice an even share of the threshold (decisionReadLimit): one shard past that
    // already decides, so a big audience is read whole once, by the workers.
    const threshold = deps.shardThreshold ?? LIMITS.shardThreshold;
    const reads = await readShards(to, deps.store, ts, decisionReadLimit(threshold, LIMITS.shards));
    const queued = await shardIfLarge(
      id,
      to,
      payload,
      ts,
      reads,
      threshold,
      { queue, records },
      admission.retried === true,
    );
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
