import { BadRequestError, UnavailableError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { ID_PATTERN } from '../shared/protocol';
import { aroundSends, type DeliveryDeps, type DeliveryOutcome, deliverOne } from './delivery';
import { isPlainObject, parseJsonText } from './json';
import type { ConnectionStore, ShardAudience, ShardRead } from './ports';
import { isValidTopic } from './topics';

/**
 * One shard of a sharded publish, as queued for a worker. The dedup key of a delivery is
 * (publish id, connection id): a worker walks its shard in one fixed order (the index's, or the ids')
 * and checkpoints the low watermark of finished deliveries, so a retried job resumes after the checkpoint. Only what
 * was delivered past the last checkpoint when a run died can be sent again (deliveries start at
 * most `checkpointEvery` past the watermark, so about two intervals at most); its frames carry the
 * same publish `id`, which the client library drops. Exactly-once without that would cost a
 * conditional write per delivery, more than the delivery itself.
 */
export interface ShardJob {
  readonly id: string;
  readonly shard: number;
  readonly to: { readonly topic: string } | { readonly all: true };
  /** The frame to deliver, serialized once by the publish Lambda. */
  readonly payload: string;
}

/**
 * Reads a shard job from its queue message body. Only the publish Lambda writes these, so a body
 * that is not a job is a bug or a stray message, never something a retry can cure: it throws
 * `BadRequestError` naming what is wrong.
 *
 * @example
 * parseShardJob('{"id":"p1","shard":3,"to":{"topic":"news"},"payload":"{}"}')
 */
export function parseShardJob(body: string): ShardJob {
  const job = parseJsonText(body, 'shard job');
  if (!isPlainObject(job)) throw new BadRequestError('shard job must be a JSON object');
  const { id, shard, to, payload } = job;
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw new BadRequestError('shard job id must be a publish id');
  if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0 || shard >= LIMITS.shards)
    throw new BadRequestError(`shard job shard must be an integer from 0 to ${LIMITS.shards - 1}`);
  if (typeof payload !== 'string') throw new BadRequestError('shard job payload must be a string');
  let audience: ShardJob['to'] | undefined;
  if (isPlainObject(to) && Object.keys(to).length === 1) {
    if (isValidTopic(to.topic)) audience = { topic: to.topic };
    else if (to.all === true) audience = { all: true };
  }
  if (audience === undefined)
    throw new BadRequestError('shard job to must be {"topic":<topic>} or {"all":true}');
  checkJobPayload(payload, id, audience);
  return { id, shard, to: audience, payload };
}

/**
 * The frame a job delivers is sent to its whole audience as it stands, so it must be the one
 * message its publish made: a `message` frame of the job's own id, with the job's topic (none for
 * a broadcast). Anyone else able to write to the queue (or to edit a message redriven from its
 * dead-letter queue) could otherwise send every connection any frame, a `kicked` one say, which
 * the client library takes as final.
 */
function checkJobPayload(payload: string, id: string, to: ShardJob['to']): void {
  let frame: unknown;
  try {
    frame = JSON.parse(payload);
  } catch {
    throw new BadRequestError('shard job payload must be a message frame');
  }
  if (!isPlainObject(frame) || frame.type !== 'message')
    throw new BadRequestError('shard job payload must be a message frame');
  if (frame.id !== id) throw new BadRequestError("shard job payload's id must be the job's");
  if (frame.topic !== ('topic' in to ? to.topic : undefined))
    throw new BadRequestError("shard job payload's topic must be the job's");
}

/** The characters JSON leaves raw that SQS refuses in a body: the noncharacters U+FFFE and U+FFFF. */
const RAW_BUT_REFUSED = /[\uFFFE\uFFFF]/g;

/**
 * A shard job as the body of its queue message: its JSON, with U+FFFE and U+FFFF written as the
 * escapes `\ufffe` and `\uffff`. SQS takes only the characters XML 1.0 allows in a body, and of
 * those outside it `JSON.stringify` escapes every one but these two, which a publish's `data` may
 * hold: raw, SQS refused the job, so the publish failed on every retry, and was told to retry. In
 * JSON text they can only stand inside a string, where the escape reads back as the same
 * character, so {@link parseShardJob} gets the job unchanged. Each costs 6 bytes instead of 3.
 *
 * @example
 * shardJobBody({ id: 'p1', shard: 0, to: { all: true }, payload: '\uffff' }).endsWith('"payload":"\\uffff"}') // true
 */
export function shardJobBody(job: ShardJob): string {
  return JSON.stringify(job).replace(RAW_BUT_REFUSED, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** Progress of one shard job. */
export interface ShardProgress {
  /**
   * The last connection whose delivery is final, with every one before it: marked with
   * {@link INDEX_ORDER}, a position in the index's order (the worker reads page by page); unmarked,
   * a connection id in sorted order (read whole and sorted, by an earlier version or a store
   * without `readShardPage`).
   */
  readonly checkpoint?: string;
  readonly done: boolean;
}

/** Counts one checkpoint adds: the deliveries since the previous one. */
export interface ChunkCounts {
  readonly connections: number;
  readonly delivered: number;
  readonly gone: number;
  readonly failed: number;
}

/** What a sharded publish answers at once. */
export interface QueuedResult {
  readonly id: string;
  readonly queued: true;
  readonly shards: number;
}

/** The status of a sharded publish, summed over its shard jobs. */
export interface PublishStatus {
  readonly id: string;
  readonly status: 'queued' | 'done';
  readonly shards: number;
  readonly shardsDone: number;
  readonly connections: number;
  readonly delivered: number;
  readonly gone: number;
  readonly failed: number;
}

/** Where shard jobs go. */
export interface JobQueue {
  enqueue(jobs: readonly ShardJob[]): Promise<void>;
}

/** Where sharded publishes keep their progress. */
export interface PublishRecords {
  /**
   * Records a sharded publish; a repeated id (a retry) adds its shards to those planned before.
   * Resolves to every shard planned so far, in ascending order.
   */
  create(id: string, shards: readonly number[], nowMs: number): Promise<readonly number[]>;
  /** Every shard any attempt planned for `id`, in ascending order; none when it was never sharded. */
  planned(id: string): Promise<readonly number[]>;
  progress(id: string, shard: number): Promise<ShardProgress>;
  /**
   * Moves the checkpoint from `from` (the one this run read or last wrote; `undefined` for none) to
   * `to` and adds the counts of the deliveries in between, atomically on the shard's item and only
   * if the checkpoint is still `from`: two runs of one job (SQS delivers at least once) can never
   * both count the same deliveries. Resolves false when another run moved it first, or when the
   * shard has no record at all while `from` names a checkpoint (the record was deleted).
   */
  advance(
    id: string,
    shard: number,
    from: string | undefined,
    to: string,
    counts: ChunkCounts,
  ): Promise<boolean>;
  finish(id: string, shard: number): Promise<void>;
  status(id: string): Promise<PublishStatus | undefined>;
}

/** Splits a publish into one job per non-empty shard. */
export function planShardJobs(
  id: string,
  to: ShardJob['to'],
  payload: string,
  shardCounts: readonly number[],
): ShardJob[] {
  const jobs: ShardJob[] = [];
  shardCounts.forEach((count, shard) => {
    if (count > 0) jobs.push({ id, shard, to, payload });
  });
  return jobs;
}

/**
 * Records one shard read whose sole job is the sharding decision may stop after (expired records
 * count: the read stops at this many items). Records land
 * in the shards by a hash of the connection id, so an audience at or below the threshold holds
 * about `threshold / shards` per shard: reading each shard to twice that share (never less than
 * {@link SHARE_FLOOR}, never more than the threshold), plus one, decides it as surely as reading
 * to `threshold + 1`, and a big
 * audience costs the publish function at most `shards` such reads instead of `shards` times the
 * threshold (at the defaults, 251 records a shard instead of up to 2,001: a 10,000-connection
 * topic was read whole, by the publish function, then again by the workers). A shard that holds
 * more than that is sharded even when the audience as a whole is within the threshold, which a
 * hash leaves to chance far out in its tail, and which costs a queued answer, never a delivery.
 *
 * @example
 * decisionReadLimit(2000, 16) // 251
 * decisionReadLimit(10, 16) // 11: small thresholds read as before
 */
export function decisionReadLimit(threshold: number, shards: number): number {
  const share = Math.max(SHARE_FLOOR, 2 * Math.ceil(threshold / Math.max(1, shards)));
  return Math.min(threshold, share) + 1;
}

/** The fewest records a decision read may stop at, so a small threshold is decided exactly. */
export const SHARE_FLOOR = 100;

/** Where a publish goes when its audience is too big to deliver inline. */
export interface ShardingDeps {
  readonly queue: JobQueue;
  readonly records: PublishRecords;
}

/**
 * Above the threshold, or when a shard read stopped at its limit, records the publish and queues
 * one job per non-empty shard instead of delivering; below it, resolves `undefined` and the
 * caller delivers inline. A shard read to its limit counts as non-empty even if every record it
 * saw had expired: the rest is unread. A retry (`retried`) of a publish an earlier attempt
 * sharded is sharded again whatever its audience now: that attempt may have failed before queuing
 * every shard it planned, and a shard never run would leave the publish `queued` for good.
 */
export async function shardIfLarge(
  id: string,
  to: ShardAudience,
  payload: string,
  ts: number,
  reads: readonly ShardRead[],
  threshold: number,
  deps: ShardingDeps,
  retried = false,
): Promise<QueuedResult | undefined> {
  const counts = reads.map((read) =>
    read.complete ? read.targets.length : Math.max(1, read.targets.length),
  );
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= threshold && reads.every((read) => read.complete)) {
    // One read, on a retry only: nothing else tells an earlier attempt's plan from none.
    if (!retried || (await deps.records.planned(id)).length === 0) return undefined;
  }
  const planned = planShardJobs(id, to, payload, counts);
  // The record exists before any job runs, so a status read never misses a shard.
  const shards = await deps.records.create(
    id,
    planned.map((j) => j.shard),
    ts,
  );
  // A retry (same id) queues every shard any attempt planned, not only those its own read found
  // filled: an earlier attempt that failed after some of its jobs were queued may have planned a
  // shard that is empty now, and a shard never run would leave the publish queued for good. A
  // job of an empty shard finishes at once; a job queued twice resumes from its checkpoint.
  const jobs = shards.map((shard) => ({ id, shard, to, payload }));
  await deps.queue.enqueue(jobs);
  return { id, queued: true, shards: jobs.length };
}

/**
 * What a checkpoint taken in the index's order starts with (see {@link ConnectionStore.readShardPage}),
 * so one taken in id order (by a worker that read its shard whole and sorted it) is never read as a
 * position in the index. `!` sorts before every character of a connection id, so a worker that
 * knows only id order re-sends such a shard from its start rather than skip part of it.
 */
export const INDEX_ORDER = '!';
/** Records the first page of a shard reads: small, so the first delivery waits for little. */
const FIRST_PAGE = 250;
/** Records each later page reads. */
const PAGE = 1_000;
/**
 * Connections read beyond the next delivery to start before the reader waits. Less than the first
 * page, so a worker asks for its second page only once it has started some of its first: reading
 * ahead at once, the sixteen workers' second pages of 1,000 queued in DynamoDB (dynalite) in front
 * of the last workers' first pages, which in bench row c started those shards a second or two late
 * and left them finishing alone, each at its 625/s share.
 */
const PAGE_AHEAD = 200;

/** What one run of a shard job did. */
export interface ShardJobOutcome extends ChunkCounts {
  /**
   * `skipped`: the shard was already done, or another run got further. `stopped`: the run reached
   * its stop time (`deadline - stopMarginMs`) with connections left, and its checkpoint moved past
   * where it began: a new run of the same job goes on from there.
   */
  readonly outcome: 'done' | 'skipped' | 'stopped';
}

/** Everything a worker needs. */
export interface WorkerDeps extends DeliveryDeps {
  readonly records: PublishRecords;
  readonly store: ConnectionStore;
  /** Called before each delivery; enforces the worker's share of the rate budget. */
  readonly acquire?: () => Promise<void>;
  readonly checkpointEvery?: number;
  readonly now?: () => number;
  /**
   * Milliseconds after its publish past which a job is late: it then reaches only connections
   * made by its publish (see {@link audienceOf}). @default LIMITS.shardJobLateMs
   */
  readonly lateAfterMs?: number;
  /**
   * When the invocation ends (epoch ms, on the clock of `now`). The run starts no delivery within
   * `stopMarginMs` of it. @default none: the run goes on until the shard is done
   */
  readonly deadline?: number;
  /**
   * How long before `deadline` the run stops starting deliveries: room for those in flight, the
   * checkpoint and the hand-over (see `workerStopMarginMs`). @default 0
   */
  readonly stopMarginMs?: number;
}

/**
 * Runs one shard job: reads the shard's live connections page by page in the index's order
 * (`readShardPage`; or, for a store without it or an unmarked checkpoint, whole and sorted by id),
 * from just past the checkpoint, and delivers them in that order with bounded concurrency, from the
 * first page on. The checkpoint follows
 * the low watermark (the last id below which every delivery has finished) every `checkpointEvery`
 * deliveries, while deliveries go on: a slow or retried delivery holds the checkpoint back, never
 * the connections after it, up to one interval past the watermark. Checkpoint writes are made one
 * at a time, in order, each only from the checkpoint the run last saw. Throws on store
 * failures so the queue retries the job; a retry picks up after the last checkpoint. When another
 * run of the job got further (the checkpoint write is refused), this run stops starting deliveries;
 * when the shard's record vanished instead (the publishes table emptied), it writes it afresh and
 * carries on. At `deadline - stopMarginMs` it stops starting deliveries, lets those in flight
 * finish, checkpoints them and resolves `stopped`, for the caller to hand the rest on; one that
 * got no delivery finished by then throws `UnavailableError` instead, since a new run given the
 * same time would get no further.
 */
export async function runShardJob(job: ShardJob, deps: WorkerDeps): Promise<ShardJobOutcome> {
  const total = { connections: 0, delivered: 0, gone: 0, failed: 0 };
  const progress = await deps.records.progress(job.id, job.shard);
  if (progress.done) return { outcome: 'skipped', ...total };
  const clock = deps.now ?? Date.now;
  const nowMs = clock();
  const publishedAt = publishTimeOf(job.payload);
  // What a delivery needs of its record beside the id: the token's `exp`, and `connectedAt`, so a
  // connection young enough to be inside `$connect` keeps its records on a 410, as inline.
  const byId = new Map<string, { readonly connectedAt?: number; readonly tokenExp?: number }>();
  /** The connections to deliver to, in the order the checkpoint follows. */
  let pending: string[];
  /** Whether `pending` holds every connection of the shard past the checkpoint. */
  let readDone: boolean;
  /** What a checkpoint written by this run starts with: see {@link INDEX_ORDER}. */
  let mark = '';
  const readPage = deps.store.readShardPage?.bind(deps.store);
  const paged =
    readPage !== undefined &&
    (progress.checkpoint === undefined || progress.checkpoint.startsWith(INDEX_ORDER));
  if (paged) {
    // Read page by page in the index's order while delivering: the first delivery waits for one
    // small page instead of the whole shard, which 16 workers reading at once made wait seconds.
    pending = [];
    readDone = false;
    mark = INDEX_ORDER;
  } else {
    const { targets: read } = await deps.store.readShard(job.to, job.shard, nowMs, Number.POSITIVE_INFINITY);
    const found = audienceOf(read, publishedAt, nowMs, deps.lateAfterMs);
    for (const t of found) byId.set(t.connectionId, t);
    pending = [...new Set(found.map((t) => t.connectionId))]
      .sort()
      .filter((id) => progress.checkpoint === undefined || id > progress.checkpoint);
    readDone = true;
  }
  const every = deps.checkpointEvery ?? LIMITS.checkpointEvery;
  const stopAt = deps.deadline === undefined ? undefined : deps.deadline - (deps.stopMarginMs ?? 0);
  const delivery = {
    ...deps,
    gateway: deps.acquire === undefined ? deps.gateway : throttled(deps.gateway, deps.acquire),
  };

  const outcomes: (DeliveryOutcome | undefined)[] = [];
  /** Deliveries finished without a gap from the start: `pending[watermark - 1]` is checkpointable. */
  let watermark = 0;
  /** Deliveries already handed to a checkpoint write. */
  let recorded = 0;
  /** Deliveries started (or passed over once halted): the next one is `pending[next]`. */
  let next = 0;
  /** The checkpoint as this run last wrote it (or found it). */
  let stored = progress.checkpoint;
  /**
   * How far past the watermark a delivery may start: what a dead run can make a retry send again
   * stays within about two checkpoint intervals, however long one delivery is held up.
   */
  const window = every;
  /** Deliveries waiting for the watermark to move or for a page, and a reader waiting for room. */
  let watermarkMoved: (() => void)[] = [];
  const wakeWaiting = () => {
    const waiting = watermarkMoved;
    watermarkMoved = [];
    for (const wake of waiting) wake();
  };
  let readerWaiting: (() => void) | undefined;
  const wakeReader = () => {
    const wake = readerWaiting;
    readerWaiting = undefined;
    wake?.();
  };
  let overtaken = false;
  let failure: { error: unknown } | undefined;
  /** Set once the stop time has come: no delivery starts after it. */
  let stopped = false;
  /**
   * True once no delivery may start. Whatever sets a reason wakes the deliveries waiting on the
   * watermark, which may never move again: a delivery that saw the reason returns with no outcome.
   */
  const halted = () => {
    if (!stopped && stopAt !== undefined && clock() >= stopAt) {
      stopped = true;
      wakeWaiting();
      wakeReader();
    }
    return stopped || overtaken || failure !== undefined;
  };
  const fail = (error: unknown) => {
    failure ??= { error };
    wakeWaiting();
    wakeReader();
  };
  let writes: Promise<void> = Promise.resolve();
  const checkpoint = (upTo: number) => {
    const counts = { connections: upTo - recorded, delivered: 0, gone: 0, failed: 0 };
    for (let i = recorded; i < upTo; i++) counts[outcomes[i] as DeliveryOutcome]++;
    const last = mark + (pending[upTo - 1] as string);
    recorded = upTo;
    writes = writes.then(async () => {
      if (overtaken || failure !== undefined) return;
      try {
        if (!(await deps.records.advance(job.id, job.shard, stored, last, counts))) {
          // Refused: another run moved the checkpoint or finished the shard, or the shard's record
          // is gone (the publishes table was emptied or restored under the running job). Only the
          // first is a reason to stop; stopping for the second would leave the rest of the shard
          // without the message, with nothing left to retry it. One read tells them apart.
          const now = await deps.records.progress(job.id, job.shard);
          const lost = !now.done && now.checkpoint === undefined && stored !== undefined;
          if (!lost || !(await deps.records.advance(job.id, job.shard, undefined, last, counts))) {
            overtaken = true;
            wakeWaiting();
            wakeReader();
            return;
          }
        }
        stored = last;
        total.connections += counts.connections;
        total.delivered += counts.delivered;
        total.gone += counts.gone;
        total.failed += counts.failed;
      } catch (error) {
        fail(error);
      }
    });
  };

  /**
   * Reads the shard ahead of the deliveries, at most {@link PAGE_AHEAD} connections beyond the
   * next one to start, so its reads are spread over the run rather than all made at its start. A
   * failed read fails the run as a failed checkpoint does: its retry resumes at the checkpoint.
   */
  const reader = async (read: NonNullable<typeof readPage>) => {
    let after = progress.checkpoint?.slice(INDEX_ORDER.length);
    let limit = FIRST_PAGE;
    const seen = new Set<string>();
    while (!halted()) {
      if (pending.length - next >= PAGE_AHEAD) {
        await new Promise<void>((resolve) => {
          readerWaiting = resolve;
        });
        continue;
      }
      const page = await read(job.to, job.shard, nowMs, after, limit);
      for (const t of audienceOf(page.targets, publishedAt, nowMs, deps.lateAfterMs)) {
        if (seen.has(t.connectionId)) continue;
        seen.add(t.connectionId);
        byId.set(t.connectionId, t);
        pending.push(t.connectionId);
      }
      after = page.next;
      limit = PAGE;
      if (after === undefined) readDone = true;
      wakeWaiting();
      if (readDone) return;
    }
  };
  const reading = readPage === undefined || !paged ? undefined : reader(readPage).catch(fail);

  const deliverAt = async (index: number) => {
    const connectionId = pending[index] as string;
    const { connectedAt, tokenExp } = byId.get(connectionId) ?? {};
    outcomes[index] = await deliverOne(
      {
        connectionId,
        payload: job.payload,
        ...(connectedAt === undefined ? {} : { connectedAt }),
        ...(tokenExp === undefined ? {} : { tokenExp }),
      },
      delivery,
    );
    const before = watermark;
    while (watermark < pending.length && outcomes[watermark] !== undefined) watermark++;
    if (watermark > before) wakeWaiting();
    if (watermark - recorded >= every) checkpoint(watermark);
  };
  /** As forEachBounded: after a delivery throws, none starts; the first error is rethrown at the end. */
  let thrown: { error: unknown } | undefined;
  const lane = async () => {
    while (thrown === undefined) {
      // The delivery at the watermark is always running or about to, and a page always comes or
      // fails, so these waits always end; once no delivery may start, halted() has woken them.
      while (!halted() && (next >= pending.length ? !readDone : next >= watermark + window)) {
        await new Promise<void>((resolve) => watermarkMoved.push(resolve));
      }
      if (halted() || next >= pending.length) return;
      const index = next++;
      if (pending.length - next < PAGE_AHEAD) wakeReader();
      try {
        await deliverAt(index);
      } catch (error) {
        thrown ??= { error };
      }
    }
  };
  // Deliveries waiting for a page that is slow to come must still see the stop time when it comes,
  // not when the page does: the run then checkpoints and hands on without waiting for the read.
  const stopTimer =
    reading === undefined || stopAt === undefined
      ? undefined
      : setTimeout(() => halted(), Math.max(0, stopAt - clock()));
  stopTimer?.unref?.();
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, deps.concurrency ?? LIMITS.fanoutConcurrency) }, lane),
    );
  } finally {
    clearTimeout(stopTimer);
  }
  // A read still out when the run halted is left to end on its own (its failure is caught above);
  // otherwise every page has been read.
  if (!halted()) await reading;
  if (watermark > recorded) checkpoint(watermark);
  await writes;
  if (thrown !== undefined) throw thrown.error;
  if (failure !== undefined) throw failure.error;
  if (overtaken) return { outcome: 'skipped', ...total };
  if (watermark < pending.length || !readDone) {
    // Only the stop leaves connections unstarted without a failure or another run to answer for them.
    if (stored === progress.checkpoint) {
      throw new UnavailableError(
        `shard job ${job.id} shard ${job.shard} reached its stop time before any delivery finished`,
      );
    }
    return { outcome: 'stopped', ...total };
  }
  await deps.records.finish(job.id, job.shard);
  return { outcome: 'done', ...total };
}

/**
 * Who a shard job delivers to, of the connections its shard read found. A job run in time (within
 * `lateAfterMs` of its publish: a queue working through a backlog) reaches them all, so a client
 * that reconnected while its job waited in the queue (a rollover, a network change) still gets a
 * broadcast or a topic message that keeps no history. A late one (a redrive from the dead-letter
 * queue, hours or days later) reaches only the connections made by its publish, the audience the
 * publish had: it finishes the delivery to those still open, and never hands an old message, as
 * new, to connections made since, which its checkpoint knows nothing of. `connectedAt` is API
 * Gateway's handshake time and `ts` the publish function's clock, so a connection is counted as
 * made by its publish up to {@link LIMITS.clockSkewMs} after it. A shard so big that its runs are
 * still handing it on past `lateAfterMs` (about the third continuation at the defaults) is judged
 * late from that run on: connections made since its publish and not yet reached are left out, as
 * for a redrive (docs/deploy.md).
 */
export function audienceOf<T extends { readonly connectedAt?: number }>(
  read: readonly T[],
  publishedAt: number | undefined,
  nowMs: number,
  lateAfterMs: number = LIMITS.shardJobLateMs,
): readonly T[] {
  if (publishedAt === undefined || nowMs - publishedAt <= lateAfterMs) return read;
  const by = publishedAt + LIMITS.clockSkewMs;
  return read.filter((t) => t.connectedAt === undefined || t.connectedAt <= by);
}

/** The `ts` of a job's message frame (epoch ms), when it has one. */
function publishTimeOf(payload: string): number | undefined {
  let frame: unknown;
  try {
    frame = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const ts = isPlainObject(frame) ? frame.ts : undefined;
  return typeof ts === 'number' && Number.isFinite(ts) ? ts : undefined;
}

function throttled(gateway: DeliveryDeps['gateway'], acquire: () => Promise<void>): DeliveryDeps['gateway'] {
  return aroundSends(gateway, async (send) => {
    await acquire();
    return send();
  });
}
