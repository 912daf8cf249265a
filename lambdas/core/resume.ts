import {
  BadRequestError,
  ForbiddenError,
  GoneError,
  RateLimitedError,
  UnavailableError,
} from '../shared/errors';
import { LIMITS } from '../shared/limits';
import type { Principal } from './auth-context';
import { type DeliveryDeps, deliverOne, lastSendStart } from './delivery';
import { encodeMessage, encodeMessages, MESSAGES_FRAME_OVERHEAD, type ServerFrame } from './frames';
import { hasGap, type LogSettings, topicHasHistory, topicStream, uidStream } from './log';
import type { LoggedMessage, LogRead, MessageLog, ReplayBudget } from './ports';
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
  const { last, stopped } = await postPacked(connectionId, read, since, deps);
  const more = stopped || ((read.messages.length === limit || read.truncated === true) && last < read.latest);
  const gap = reset || hasGap(since, read, deps.logSettings.maxMessages);
  // Without a gap, report the last seq actually replayed: the counter may be ahead of a message
  // still being written, and the client must not skip it; `latest` tells it to look again.
  const seq = gap && !more ? Math.max(read.latest, last) : last;
  return {
    type: 'resumed',
    ...topicField,
    seq,
    ...epochField,
    ...(!more && read.latest > seq ? { latest: read.latest } : {}),
    ...(gap ? { gap: true as const } : {}),
    ...(more ? { more: true as const } : {}),
  };
}

/**
 * Posts the messages in order, as many to one frame as fit (a message too big to share a frame
 * goes alone, as a plain `message` frame, as does the last one when it is alone), and stops
 * before the deadline's margin. Resolves to the last seq posted and whether time ran out.
 */
async function postPacked(
  connectionId: string,
  read: LogRead,
  since: number,
  deps: ResumeDeps,
): Promise<{ last: number; stopped: boolean }> {
  const maxBytes = deps.maxFrameBytes ?? LIMITS.maxReplayFrameBytes;
  const margin = deps.replayMarginMs ?? LIMITS.replayMarginMs;
  const now = deps.now ?? Date.now;
  // No post starts, nor is tried again, past this: one started before it still ends inside the
  // invocation, and the `resumed` (or the error) gets back to the client. The margin is sized for
  // the default send timeout; a longer one moves it earlier.
  const stopAt =
    deps.deadline === undefined
      ? undefined
      : Math.min(deps.deadline - margin, lastSendStart(deps.deadline, deps, 0));
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
    if (outcome !== 'delivered') {
      throw new UnavailableError(`replay stopped after seq ${last}; send resume again`);
    }
    last = (batch[batch.length - 1] as { seq: number }).seq;
    batch = [];
    bytes = MESSAGES_FRAME_OVERHEAD;
    return true;
  };
  for (const message of read.messages) {
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
