import {
  BadRequestError,
  ForbiddenError,
  GoneError,
  RateLimitedError,
  UnavailableError,
} from '../shared/errors';
import { LIMITS } from '../shared/limits';
import type { Principal } from './auth-context';
import { realSleep } from './backoff';
import { type DeliveryDeps, deliverOne, lastSendStart } from './delivery';
import { encodeMessage, encodeMessages, MESSAGES_FRAME_OVERHEAD, type ServerFrame } from './frames';
import {
  hasGap,
  holeKind,
  type LogSettings,
  topicHasHistory,
  topicStream,
  uidStream,
  writeWindowMs,
} from './log';
import type { LoggedMessage, MessageLog, ReplayBudget } from './ports';
import { topicGranted } from './topics';

/** Everything a resume needs. */
export interface ResumeDeps extends DeliveryDeps {
  readonly log: MessageLog;
  readonly logSettings: LogSettings;
  /** Most messages one resume replays. @default LIMITS.maxReplay */
  readonly maxReplay?: number;
  /** Most bytes of stored messages one resume reads. @default LIMITS.maxReplayBytes */
  readonly maxReplayBytes?: number;
  /** Largest frame replayed messages are packed into. @default LIMITS.maxReplayFrameBytes */
  readonly maxFrameBytes?: number;
  /**
   * When the invocation ends (epoch ms; Lambda's remaining time from the start). The replay posts
   * nothing more past `deadline - replayMarginMs` and answers `more`, and the connection's replay
   * lease expires then. @default none: no time bound, a lease of LIMITS.replayLeaseMs
   */
  readonly deadline?: number;
  /** @default LIMITS.replayMarginMs */
  readonly replayMarginMs?: number;
  /** @default LIMITS.resumesPerWindow per LIMITS.resumeWindowSeconds */
  readonly resumeBudget?: ReplayBudget;
  /**
   * The publish function's timeout: how long a seq may be missing below a stored message before it
   * counts as lost (see {@link writeWindowMs}). @default LIMITS.publishTimeoutMs
   */
  readonly publishTimeoutMs?: number;
}

/**
 * A replay that stopped because a post to its connection failed on every attempt: the client is
 * not reading its socket (its posts are refused until it catches up), or the Management API
 * failed. Answered `unavailable`, as any such failure is; named apart so that a client that
 * resumes again and again without reading is logged once in a while, not once per resume.
 */
export class ReplayStoppedError extends UnavailableError {
  override readonly name = 'ReplayStoppedError';
  constructor(afterSeq: number) {
    super(`replay stopped after seq ${afterSeq}; send resume again`);
  }
}

/** The resume budget from LIMITS. */
export const DEFAULT_RESUME_BUDGET: ReplayBudget = {
  perWindow: LIMITS.resumesPerWindow,
  perUid: LIMITS.resumesPerUidPerWindow,
  windowMs: LIMITS.resumeWindowSeconds * 1000,
};

/** What a client asks to resume: its cursor in a stream, and the epoch the cursor was taken in. */
export interface ResumeRequest {
  readonly since: number;
  readonly topic?: string;
  /** Without it, the cursor is trusted as being of the stream's current epoch. */
  readonly epoch?: string;
}

/**
 * Replays a stream to one connection, in order, after `since`, and returns the `resumed` frame
 * that closes the replay. Without a topic the stream is the caller's own uid: a client can only
 * ever read its own log. A topic stream needs a granted topic that keeps history.
 *
 * A connection replays one stream at a time and starts a bounded number of replays per window, and
 * so do all of a uid's connections together: each replay costs reads and posts out of budgets
 * every client shares, so one client must not be able to multiply them, by opening more
 * connections or by reconnecting. Both hold across Lambda instances (the store keeps them); a
 * refused resume throws {@link RateLimitedError} and changes nothing.
 */
export async function resume(
  connectionId: string,
  principal: Principal,
  request: ResumeRequest,
  nowMs: number,
  deps: ResumeDeps,
): Promise<ServerFrame> {
  const { topic } = request;
  let stream = uidStream(principal.uid);
  if (topic !== undefined) {
    if (!topicGranted(topic, principal.grants))
      throw new ForbiddenError(`token does not grant topic ${topic}`);
    if (!topicHasHistory(topic, deps.logSettings))
      throw new BadRequestError(`topic ${topic} keeps no history`);
    stream = topicStream(topic);
  }
  const until = deps.deadline ?? nowMs + LIMITS.replayLeaseMs;
  const budget = deps.resumeBudget ?? DEFAULT_RESUME_BUDGET;
  const start = await deps.store.beginReplay(connectionId, principal.uid, nowMs, until, budget);
  if (start === 'gone') throw new GoneError(`connection ${connectionId} is no longer registered; reconnect`);
  if (start === 'busy') {
    throw new RateLimitedError('a replay is already running on this connection; resume after its resumed');
  }
  if (start === 'exhausted') {
    throw new RateLimitedError(
      `more than ${budget.perWindow} resumes in ${budget.windowMs / 1000} s on this connection; resume later`,
    );
  }
  if (start === 'uidExhausted') {
    throw new RateLimitedError(
      `more than ${budget.perUid} resumes in ${budget.windowMs / 1000} s across this uid's connections; resume later`,
    );
  }
  try {
    return await replay(connectionId, stream, request, nowMs, deps);
  } finally {
    // Best effort: a lease that is not given back expires with the invocation anyway.
    await deps.store.endReplay(connectionId, until).catch(() => {});
  }
}

/**
 * A cursor taken in another epoch than the stream's (the stream was reset since: its counter went
 * and came back, counting from 1 again) numbers nothing in it, however it compares with the
 * counter: the replay starts from the new epoch's beginning and answers `gap`, with the new epoch,
 * so the client refetches the state the lost messages described and carries on in the new epoch.
 *
 * Seqs are replayed without a hole. Two publishes to a stream may store their messages in the
 * other order than they took their seqs, so a seq missing below a stored message may still come:
 * the replay waits for it (up to {@link LIMITS.holeWaitMs}, reading the log again), and if it is
 * still missing stops before it and answers `latest`, so the client looks once more. Replayed
 * across, the message would be lost to this client: its connection is newer than the publish's
 * lookup, so no post reaches it, and its cursor would stand past the seq. A seq that cannot come
 * any more (trimmed, or its publish ended) is passed over, with `gap`.
 */
async function replay(
  connectionId: string,
  stream: string,
  request: ResumeRequest,
  nowMs: number,
  deps: ResumeDeps,
): Promise<ServerFrame> {
  const { topic } = request;
  const topicField = topic === undefined ? {} : { topic };
  const limit = deps.maxReplay ?? LIMITS.maxReplay;
  const maxBytes = deps.maxReplayBytes ?? LIMITS.maxReplayBytes;
  let since = request.since;
  let read = await deps.log.read(stream, since, nowMs, limit, maxBytes);
  const reset = request.epoch !== undefined && read.epoch !== request.epoch;
  const epochField = read.epoch === undefined ? {} : { epoch: read.epoch };
  if (reset && since > 0) {
    since = 0;
    read = await deps.log.read(stream, since, nowMs, limit, maxBytes);
  } else if (since > read.latest) {
    // The client has seen seqs this stream never reached: the log was reset (a table replaced, an
    // in-memory stack restarted) and counts from 1 again. Its state is stale and its cursor would
    // drop the new seqs as repeats, so it starts over from the current counter.
    return { type: 'resumed', ...topicField, seq: read.latest, ...epochField, gap: true };
  }
  const now = deps.now ?? Date.now;
  const { maxMessages } = deps.logSettings;
  const writeWindow = writeWindowMs(deps.publishTimeoutMs ?? LIMITS.publishTimeoutMs);
  // The sleep a delivery's backoff takes: it also spaces the reads for a seq still being written.
  const sleep = deps.sleep ?? realSleep;
  const stopAt = replayStopAt(deps);
  let gap = reset || hasGap(since, read, maxMessages);
  /** The `resumed` frame that closes the replay at `seq`, with `gap` as it stands then. */
  const resumed = (seq: number, fields: { latest?: number; more?: true } = {}): ServerFrame => ({
    type: 'resumed',
    ...topicField,
    seq,
    ...epochField,
    ...(fields.latest === undefined ? {} : { latest: fields.latest }),
    ...(gap ? { gap: true as const } : {}),
    ...(fields.more ? { more: true as const } : {}),
  });
  let full = read.messages.length === limit || read.truncated === true;
  let messages = read.messages;
  let last = since;
  // One resume replays at most `limit` messages and `maxBytes` of them, re-reads included.
  let countLeft = limit;
  let bytesLeft = maxBytes;
  for (let waitedMs = 0; ; ) {
    const { run, hole } = unbroken(messages, last);
    const posted = await postPacked(connectionId, run, last, stopAt, deps);
    last = posted.last;
    if (posted.stopped) return resumed(last, { more: true });
    countLeft -= run.length;
    for (const message of run) bytesLeft -= Buffer.byteLength(message.dataJson);
    if (hole === undefined) break;
    if (holeKind(hole.seq, hole.next, read, now(), maxMessages, writeWindow) !== 'pending') {
      // Nothing will fill it: the client is told, and the replay goes on past it.
      gap = true;
      messages = messages.filter((message) => message.seq >= hole.next.seq);
      last = hole.next.seq - 1;
      continue;
    }
    const delay = Math.min(HOLE_POLL_MS, LIMITS.holeWaitMs - waitedMs);
    if (delay <= 0 || countLeft <= 0 || bytesLeft <= 0 || (stopAt !== undefined && now() + delay > stopAt)) {
      return resumed(last, { latest: read.latest });
    }
    await sleep(delay);
    waitedMs += delay;
    read = await deps.log.read(stream, last, now(), countLeft, bytesLeft);
    gap ||= read.expired === true;
    full = read.messages.length === countLeft || read.truncated === true;
    messages = read.messages;
  }
  const more = full && last < read.latest;
  // Without a gap, report the last seq actually replayed: the counter may be ahead of a message
  // still being written, and the client must not skip it; `latest` tells it to look again.
  const seq = gap && !more ? Math.max(read.latest, last) : last;
  if (more) return resumed(seq, { more: true });
  return resumed(seq, read.latest > seq ? { latest: read.latest } : {});
}

/** How often a replay reads the log again for a seq still being written, within LIMITS.holeWaitMs. */
const HOLE_POLL_MS = 100;

/**
 * The messages that follow `last` without a missing seq, and the first missing one with the
 * message stored after it, if the run ends at one.
 */
function unbroken(
  messages: readonly LoggedMessage[],
  last: number,
): { run: LoggedMessage[]; hole?: { seq: number; next: LoggedMessage } } {
  const run: LoggedMessage[] = [];
  for (const message of messages) {
    const expected = last + run.length + 1;
    if (message.seq < expected) continue;
    if (message.seq > expected) return { run, hole: { seq: expected, next: message } };
    run.push(message);
  }
  return { run };
}

/**
 * No post starts, nor is tried again, past this: one started before it still ends inside the
 * invocation, and the `resumed` (or the error) gets back to the client. The margin is sized for
 * the default send timeout; a longer one moves it earlier. Undefined without a deadline.
 */
function replayStopAt(deps: ResumeDeps): number | undefined {
  if (deps.deadline === undefined) return undefined;
  const margin = deps.replayMarginMs ?? LIMITS.replayMarginMs;
  return Math.min(deps.deadline - margin, lastSendStart(deps.deadline, deps, 0));
}

/**
 * Posts the messages in order, as many to one frame as fit (a message too big to share a frame
 * goes alone, as a plain `message` frame, as does the last one when it is alone), and stops
 * before `stopAt`. Resolves to the last seq posted (`since` when none) and whether time ran out.
 */
async function postPacked(
  connectionId: string,
  messages: readonly LoggedMessage[],
  since: number,
  stopAt: number | undefined,
  deps: ResumeDeps,
): Promise<{ last: number; stopped: boolean }> {
  const maxBytes = deps.maxFrameBytes ?? LIMITS.maxReplayFrameBytes;
  const now = deps.now ?? Date.now;
  const sends = stopAt === undefined ? deps : { ...deps, until: stopAt };
  let last = since;
  let batch: { encoded: string; seq: number }[] = [];
  let bytes = MESSAGES_FRAME_OVERHEAD;
  const flush = async (): Promise<boolean> => {
    if (batch.length === 0) return true;
    if (stopAt !== undefined && now() > stopAt) return false;
    const payload =
      batch.length === 1
        ? (batch[0] as { encoded: string }).encoded
        : encodeMessages(batch.map((m) => m.encoded));
    const outcome = await deliverOne({ connectionId, payload }, sends);
    // A connection that closed during its replay is the client's doing, not a failure of the
    // service: its answer reaches nobody, but it is logged as routine rather than as an outage.
    if (outcome === 'gone') {
      throw new GoneError(`connection ${connectionId} closed during its replay, after seq ${last}`);
    }
    if (outcome !== 'delivered') throw new ReplayStoppedError(last);
    last = (batch[batch.length - 1] as { seq: number }).seq;
    batch = [];
    bytes = MESSAGES_FRAME_OVERHEAD;
    return true;
  };
  for (const message of messages) {
    const encoded = encodeLogged(message);
    const size = Buffer.byteLength(encoded) + (batch.length === 0 ? 0 : 1);
    if (bytes + size > maxBytes && !(await flush())) return { last, stopped: true };
    bytes += Buffer.byteLength(encoded) + (batch.length === 0 ? 0 : 1);
    batch.push({ encoded, seq: message.seq });
  }
  if (!(await flush())) return { last, stopped: true };
  return { last, stopped: false };
}

function encodeLogged(message: LoggedMessage): string {
  return encodeMessage({ ...message, topic: message.topic });
}
