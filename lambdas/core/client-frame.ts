import {
  BadRequestError,
  ERROR_CODES,
  ForbiddenError,
  GoneError,
  INTERNAL_MESSAGE,
  PushError,
  RateLimitedError,
  TableMissingError,
  toErrorBody,
  UnavailableError,
} from '../shared/errors';
import type { WebSocketEvent } from '../shared/events';
import { LIMITS } from '../shared/limits';
import { principalFrom, tokenExpFrom } from './auth-context';
import { settleBefore } from './deadline';
import { expireConnection, lastSendStart, tokenExpired } from './delivery';
import { expiresAtFor } from './expiry';
import { type FrameRate, frameRateMessage, uidFrameRateMessage } from './frame-rate';
import { type ClientAction, parseClientFrame, refusedFrameTopic, type ServerFrame } from './frames';
import { uidStream } from './log';
import { forEachBounded } from './pool';
import type { ConnectionStore, Revocations, SubscriptionRecord } from './ports';
import { type ResumeDeps, resume } from './resume';
import { nextCoolOffMs } from './revocation';
import { shardOf } from './shard';
import { topicGranted } from './topics';
import { isValidUid } from './uid';

/** Everything the `$default` route needs: the store, and the log and delivery a resume replays with. */
export interface ClientFrameDeps extends ResumeDeps {
  readonly store: ConnectionStore;
  /** Topics one connection may be subscribed to at once. @default LIMITS.maxSubscriptions */
  readonly maxSubscriptions?: number;
  /** Each connection's frame allowance in this environment; without it every frame runs. */
  readonly frameRate?: FrameRate;
  /**
   * The allowance each uid's connections share in this environment, checked after the
   * connection's own; without it a uid's connections are held to their own allowances only.
   */
  readonly uidFrameRate?: FrameRate;
  /**
   * Where a connection closed for flooding keeps its uid from connecting again, and for how long
   * (`ms`); without it, or with 0, the uid may reconnect at once.
   */
  readonly floodCoolOff?: {
    readonly revocations: Pick<Revocations, 'coolOff' | 'lastCoolOff'>;
    readonly ms: number;
  };
  /**
   * The gateway's per-call timeout (`PUSH_SEND_TIMEOUT_MS`): what a close may take, kept free
   * before the deadline when an expired connection's frame is retried. @default LIMITS.sendTimeoutMs
   */
  readonly sendTimeoutMs?: number;
}

/**
 * How loudly a refused frame is logged. A refusal the client caused (bad input, not granted, over
 * its allowance, gone) is routine: `info`. One the service caused is the operator's, logged with
 * what AWS said: a dependency throttled or down, `warn`; a table that is not there, `error`, since
 * only the operator can bring it back (or correct a table name that points nowhere).
 */
export function refusalLevel(error: PushError): 'info' | 'warn' | 'error' {
  if (error instanceof TableMissingError) return 'error';
  return error.code === ERROR_CODES.unavailable || error.code === ERROR_CODES.throttled ? 'warn' : 'info';
}

/** Observations of the `$default` route, for logs. */
export interface ClientFrameEvents {
  /** A frame refused with a stable code (bad input, not granted, gone, …). */
  refused?(error: PushError): void;
  /** A frame that failed for any other reason (a bug, or an unexpected dependency error). */
  failed?(error: unknown): void;
  /**
   * A frame over its connection's allowance (`scope` `connection`) or its uid's (`uid`), answered
   * `rate_limited` without running; `refusals` counts them since that allowance was last full (1:
   * the first of a flood).
   */
  limited?(refusals: number, scope: 'connection' | 'uid'): void;
  /** A connection closed for sending on after its frames were refused (`refusals` of them). */
  flooded?(refusals: number): void;
  /**
   * A uid's connections closed, `closed` of them, for sending on together after the uid's
   * allowance refused `refusals` of their frames.
   */
  uidFlooded?(refusals: number, closed: number): void;
  /** The uid of a connection closed for flooding may not connect for `ms` (longer for a repeat). */
  cooledOff?(ms: number): void;
}

/**
 * Answers one client frame. Never throws: a refused or failed frame is answered with an `error`
 * frame (with the `topic` of the subscribe, unsubscribe or resume that caused it), and the
 * connection stays open. A frame from a connection whose token has expired is not read at all:
 * the connection is sent `{"type":"expired"}` and closed, and the answer is `undefined` (nothing
 * can reach a closed connection).
 */
export async function answerClientFrame(
  event: Pick<WebSocketEvent, 'body' | 'isBase64Encoded' | 'requestContext'>,
  deps: ClientFrameDeps,
  nowMs: number,
  events: ClientFrameEvents = {},
): Promise<ServerFrame | undefined> {
  let frame: ClientAction | undefined;
  // First of all, before any read or call: a refused frame runs nothing.
  const limiter = deps.frameRate;
  const rate = limiter?.check(event.requestContext.connectionId, nowMs);
  if (limiter !== undefined && rate?.verdict === 'refused') {
    events.limited?.(rate.refusals, 'connection');
    const error = new RateLimitedError(frameRateMessage(limiter.settings));
    return errorFrame(error, refusedFrameTopic(event.body));
  }
  if (rate?.verdict === 'close') {
    events.flooded?.(rate.refusals);
    await closeFlooded(event.requestContext, deps, events, nowMs);
    return undefined;
  }
  // Then the uid's shared allowance: a flood spread over many connections, each within its own.
  const uid = event.requestContext.authorizer?.uid;
  const uidLimiter = deps.uidFrameRate;
  const uidRate = uidLimiter !== undefined && isValidUid(uid) ? uidLimiter.check(uid, nowMs) : undefined;
  if (uidLimiter !== undefined && uidRate?.verdict === 'refused') {
    events.limited?.(uidRate.refusals, 'uid');
    const error = new RateLimitedError(uidFrameRateMessage(uidLimiter.settings));
    return errorFrame(error, refusedFrameTopic(event.body));
  }
  if (uidLimiter !== undefined && uidRate?.verdict === 'close' && isValidUid(uid)) {
    // One close of the uid at a time in this environment: its frames meanwhile are refused.
    uidLimiter.closing(uid);
    let closed: number;
    try {
      closed = await closeUidFlooded(uid, event.requestContext.connectionId, deps, events, nowMs);
    } finally {
      // Closed and cooling off: it comes back with a whole burst for its reconnect (see `forget`).
      uidLimiter.forget(uid);
    }
    events.uidFlooded?.(uidRate.refusals, closed);
    return undefined;
  }
  if (tokenExpired(tokenExpFrom(event.requestContext.authorizer), nowMs)) {
    // The frame's retries stop in time for the close (one more call) before the function ends.
    const frameUntil =
      deps.deadline === undefined
        ? Number.POSITIVE_INFINITY
        : lastSendStart(deps.deadline, deps, LIMITS.floodCloseMarginMs);
    await expireConnection(event.requestContext.connectionId, deps, frameUntil);
    return undefined;
  }
  try {
    if (event.isBase64Encoded) throw new BadRequestError('binary frames are not supported');
    frame = parseClientFrame(event.body);
    return await respond(event.requestContext, frame, deps, nowMs);
  } catch (error) {
    // `internal` is a failure whatever carried it (a DynamoDB refusal arrives as a PushError):
    // logged as one, with its cause.
    if (error instanceof PushError && error.code !== ERROR_CODES.internal) events.refused?.(error);
    else events.failed?.(error);
    // The topic ties an error to the subscribe, unsubscribe or resume that caused it, also when
    // the frame was refused for another of its fields.
    const topic =
      frame === undefined ? refusedFrameTopic(event.body) : 'topic' in frame ? frame.topic : undefined;
    return errorFrame(error, topic);
  }
}

/**
 * Closes a connection that kept sending after its frames were refused, and keeps its uid from
 * connecting again for the cool-off: otherwise it would reconnect at once, with a fresh allowance
 * in every environment. The cool-off is written first: a flooder that reconnects the moment its
 * socket closes must find it, and with both at once the close could reach it before the write
 * landed. The close is the Management API's DELETE: its `$disconnect` removes its records (and
 * the TTL, should that never come). The cool-off is one conditional write, made at most once per
 * `refusalsToClose` refused frames. Gone already is closed enough; a failure of either is
 * reported, and the other still made.
 */
async function closeFlooded(
  context: WebSocketEvent['requestContext'],
  deps: ClientFrameDeps,
  events: ClientFrameEvents,
  nowMs: number,
): Promise<void> {
  const uid = context.authorizer?.uid;
  if (isValidUid(uid)) await coolOffUid(uid, deps, events, nowMs);
  await deps.gateway.close(context.connectionId).catch((error: unknown) => {
    if (!(error instanceof GoneError)) events.failed?.(error);
  });
}

/**
 * Writes the uid's flood cool-off, when one is configured: the authorizer and `$connect` refuse
 * its handshakes until it ends. A uid flooding again soon after its last one ended cools off
 * longer ({@link nextCoolOffMs}). A failed read costs only that escalation; a failed write is
 * reported, and the close goes on without it.
 */
async function coolOffUid(
  uid: string,
  deps: ClientFrameDeps,
  events: ClientFrameEvents,
  nowMs: number,
): Promise<void> {
  const coolOff = deps.floodCoolOff;
  if (coolOff === undefined || coolOff.ms <= 0) return;
  const { revocations } = coolOff;
  const last = await revocations.lastCoolOff(uid).catch((error: unknown) => {
    events.failed?.(error);
    return undefined;
  });
  const ms = nextCoolOffMs(last, nowMs, coolOff.ms);
  try {
    await revocations.coolOff(uid, nowMs + ms, ms);
    events.cooledOff?.(ms);
  } catch (error) {
    events.failed?.(error);
  }
}

/** A flooding uid's connections closed at once. */
const UID_CLOSE_CONCURRENCY = 8;

/**
 * Closes every open connection of a uid whose connections kept sending together after the uid's
 * allowance refused their frames, and keeps the uid from connecting again for the cool-off,
 * written first as for one connection ({@link closeFlooded}). The connections are the uid's
 * index read (at most `maxConnectionsPerUid`, bar records whose `$disconnect` is late) and the
 * one this frame came on, which the index may not show yet. Resolves to how many it closed (one
 * gone already is not counted); a failed read or close is reported and the rest still made.
 */
async function closeUidFlooded(
  uid: string,
  connectionId: string,
  deps: ClientFrameDeps,
  events: ClientFrameEvents,
  nowMs: number,
): Promise<number> {
  await coolOffUid(uid, deps, events, nowMs);
  const ids = new Set([connectionId]);
  try {
    for (const target of await deps.store.byUid(uid, nowMs)) ids.add(target.connectionId);
  } catch (error) {
    events.failed?.(error);
  }
  let closed = 0;
  let late = false;
  const closing = forEachBounded([...ids], UID_CLOSE_CONCURRENCY, async (id) => {
    if (late) return;
    try {
      await deps.gateway.close(id);
      closed += 1;
    } catch (error) {
      // Gone already: a record whose `$disconnect` is late, or closed meanwhile; not one this closed.
      if (!(error instanceof GoneError)) events.failed?.(error);
    }
  });
  const until =
    deps.deadline === undefined ? Number.POSITIVE_INFINITY : deps.deadline - LIMITS.floodCloseMarginMs;
  if (!(await settleBefore(closing, until)).done) {
    late = true;
    events.failed?.(
      new UnavailableError(
        `closed ${closed} of ${ids.size} connections of a flooding uid before the invocation's end`,
      ),
    );
  }
  return closed;
}

/** The `error` frame a failed frame is answered with. */
export function errorFrame(error: unknown, topic: string | undefined): ServerFrame {
  const body = toErrorBody(error);
  // A throttled backend is, for the client, a backend to retry later: one code, one behaviour.
  const code = body.code === 'throttled' ? 'unavailable' : body.code;
  // An internal failure's own message (a DynamoDB refusal names the operation and the error) is
  // for the logs; the wire says what the README promises.
  const message = code === ERROR_CODES.internal ? INTERNAL_MESSAGE : body.message;
  return { type: 'error', code, message, ...(topic === undefined ? {} : { topic }) };
}

/** The subscription record a `subscribe` stores, expiring with the connection. */
export function subscriptionRecord(
  connectionId: string,
  topic: string,
  uid: string,
  connectedAt: number,
  nowMs: number,
  tokenExp?: number,
): SubscriptionRecord {
  return {
    connectionId,
    topic,
    uid,
    shard: shardOf(connectionId),
    connectedAt,
    expiresAt: expiresAtFor(nowMs),
    ...(tokenExp === undefined ? {} : { tokenExp }),
  };
}

async function respond(
  context: WebSocketEvent['requestContext'],
  frame: ClientAction,
  deps: ClientFrameDeps,
  now: number,
): Promise<ServerFrame> {
  const { connectionId, connectedAt, authorizer } = context;
  switch (frame.action) {
    case 'ping': {
      // The uid stream's counter rides on the pong: a client that has seen less resumes, so a
      // message that missed this socket (an index that had not caught up with it yet, a post
      // that failed) is noticed within one heartbeat instead of at the next message.
      const uid = authorizer?.uid;
      const [registered, head] = await Promise.all([
        deps.store.touch(connectionId, now),
        isValidUid(uid) ? deps.log.head(uidStream(uid)) : undefined,
      ]);
      // A connection whose record is gone (expired, or removed after a 410) gets no pushes any
      // more: say so, and the client reconnects instead of waiting forever.
      if (!registered) {
        throw new GoneError(`connection ${connectionId} is no longer registered; reconnect`);
      }
      // So does its epoch: a stream reset since the client's cursor is noticed even before it
      // grows past that cursor.
      if (head === undefined) return { type: 'pong', ts: now };
      return {
        type: 'pong',
        ts: now,
        seq: head.latest,
        ...(head.epoch === undefined ? {} : { epoch: head.epoch }),
      };
    }
    case 'subscribe': {
      const principal = principalFrom(authorizer);
      if (!topicGranted(frame.topic, principal.grants)) {
        throw new ForbiddenError(`token does not grant topic ${frame.topic}`);
      }
      await deps.store.subscribe(
        subscriptionRecord(connectionId, frame.topic, principal.uid, connectedAt, now, principal.tokenExp),
        now,
        deps.maxSubscriptions ?? LIMITS.maxSubscriptions,
      );
      return { type: 'subscribed', topic: frame.topic };
    }
    case 'unsubscribe':
      await deps.store.unsubscribe(connectionId, frame.topic);
      return { type: 'unsubscribed', topic: frame.topic };
    case 'resume':
      // Replayed messages go out through the Management API before this reply, so they arrive first.
      return resume(connectionId, principalFrom(authorizer), frame, now, deps);
  }
}
