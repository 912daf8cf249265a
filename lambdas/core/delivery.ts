import { GoneError, isRetryable, UnavailableError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { type BackoffOptions, fullJitterDelay, realSleep } from './backoff';
import { settleBefore } from './deadline';
import { encodeFrame } from './frames';
import { concurrencyLimit, forEachBounded } from './pool';
import type { ConnectionStore, Gateway } from './ports';

/*
 * Delivery: one payload to one connection, many with bounded concurrency, and the gateways that
 * bound sends. Publishes, resumes, kicks and the shard worker all deliver through here.
 */

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
  /** The gateway's per-call timeout (the stack's `sendTimeout`). @default LIMITS.sendTimeoutMs */
  readonly sendTimeoutMs?: number;
  /**
   * The last moment (epoch ms) a send may start, so that it ends, whatever it meets, inside the
   * invocation (see {@link lastSendStart}). Past it a delivery not yet tried throws
   * {@link SendTooLateError}, and one whose retry would start past it counts as `failed`, as if its
   * attempts had run out. @default none: every attempt is made
   */
  readonly until?: number;
}

/**
 * The time a caller must keep for its last send and `wrapUpMs` after it: one send can take the
 * gateway's timeout and its grace.
 */
export function sendReserveMs(deps: Pick<DeliveryDeps, 'sendTimeoutMs'>, wrapUpMs: number): number {
  return (deps.sendTimeoutMs ?? LIMITS.sendTimeoutMs) + LIMITS.sendTimeoutGraceMs + wrapUpMs;
}

/**
 * When the last send may start for a caller whose invocation ends at `deadline` (epoch ms) and
 * needs `wrapUpMs` after its last send (see {@link sendReserveMs}).
 */
export function lastSendStart(
  deadline: number,
  deps: Pick<DeliveryDeps, 'sendTimeoutMs'>,
  wrapUpMs: number,
): number {
  return deadline - sendReserveMs(deps, wrapUpMs);
}

/** One payload for one connection. */
export interface Delivery {
  readonly connectionId: string;
  readonly payload: string | Uint8Array;
  /** When the connection was made (epoch ms), if known; see {@link deliverOne} on 410. */
  readonly connectedAt?: number;
  /** The connection's token `exp` (epoch seconds), if known; see {@link deliverOne}. */
  readonly tokenExp?: number;
}

export type DeliveryOutcome = 'delivered' | 'gone' | 'failed';

/** Why a send was not started (or not started again): see {@link DeliveryDeps.until}. */
const OUT_OF_TIME = "not sent: no time left for a send to end before the invocation's timeout";

/**
 * A delivery not started at all, for lack of time ({@link DeliveryDeps.until}): the caller's
 * invocation fails (`unavailable`) and is retried, since counting it `failed` would record a
 * publish as done that never tried that connection.
 */
export class SendTooLateError extends UnavailableError {
  override readonly name = 'SendTooLateError';
  constructor() {
    super(OUT_OF_TIME);
  }
}

/** What a connection whose token has expired is sent, once, before it is closed. */
export const EXPIRED_FRAME = encodeFrame({ type: 'expired' });

/** True once a token `exp` (epoch seconds) has passed: at `exp` itself the token is expired, as jose says. */
export function tokenExpired(tokenExp: number | undefined, nowMs: number): boolean {
  return tokenExp !== undefined && tokenExp * 1000 <= nowMs;
}

/**
 * Ends a connection whose token has expired: `{"type":"expired"}`, then DeleteConnection, then
 * its records. The frame is sent as any delivery is (see {@link deliverOne}): a throttle or a 5xx
 * is tried again, as a kick's frame is, since a client that gets the close without it takes it for
 * a failure and waits a backoff before it reconnects, where `expired` has it fetch a fresh token
 * at once. The close and the removal are best effort (the connection may be gone already, and the
 * TTL removes what is left), so this never throws.
 *
 * `frameUntil` (epoch ms) bounds the frame's attempts, for a caller whose invocation ends sooner
 * than every attempt could take (`$default`, 10 s, against 4 sends of up to 3.5 s): past it the
 * connection is closed without waiting for them, as before the frame had retries.
 */
export async function expireConnection(
  connectionId: string,
  deps: DeliveryDeps,
  frameUntil = Number.POSITIVE_INFINITY,
): Promise<void> {
  const frame = await settleBefore(
    deliverOne({ connectionId, payload: EXPIRED_FRAME }, deps),
    frameUntil,
    deps.now,
  );
  // Gone already: nothing left to tell or close, and the delivery has removed its records.
  if (frame.done && frame.value === 'gone') return;
  if (!frame.done) {
    deps.events?.failed?.(
      connectionId,
      new UnavailableError(`{"type":"expired"} not sent before the invocation's end; closing without it`),
    );
  }
  try {
    await deps.gateway.close(connectionId);
  } catch (error) {
    if (!(error instanceof GoneError)) deps.events?.failed?.(connectionId, error);
  }
  try {
    await deps.store.remove(connectionId);
  } catch (error) {
    deps.events?.cleanupFailed?.(connectionId, error);
  }
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
 * sleeps between attempts hold no slot). With `until`, a send whose turn comes after it is not
 * sent ({@link SendTooLateError}): waiting for a slot must not take it past the invocation's end.
 */
export function limitSends(
  gateway: Gateway,
  limit: number,
  until = Number.POSITIVE_INFINITY,
  now: () => number = Date.now,
): Gateway {
  const limited = concurrencyLimit(limit);
  return aroundSends(gateway, (send) =>
    limited(async () => {
      if (now() > until) throw new SendTooLateError();
      await send();
    }),
  );
}

/**
 * Delivers one payload to one connection: retries throttles and 5xx with full-jitter backoff,
 * deletes the connection's records on 410, and reports the outcome instead of throwing. A
 * connection whose token has expired is never sent the payload: it is ended instead (see
 * {@link expireConnection}) and counts as `gone`.
 */
export async function deliverOne(delivery: Delivery, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const attempts = deps.attempts ?? LIMITS.sendAttempts;
  const now = deps.now ?? Date.now;
  const { connectionId, payload } = delivery;
  if (deps.until !== undefined && now() > deps.until) throw new SendTooLateError();
  if (tokenExpired(delivery.tokenExp, now())) {
    await expireConnection(connectionId, deps, deps.until);
    return 'gone';
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.gateway.send(connectionId, payload);
      return 'delivered';
    } catch (error) {
      // Refused by a bounded gateway before it was sent (see limitSends): the first attempt was
      // never made, so the caller's invocation fails; a retry is one not made, as below.
      if (error instanceof SendTooLateError) {
        if (attempt === 1) throw error;
        deps.events?.failed?.(connectionId, error);
        return 'failed';
      }
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
        const delay = fullJitterDelay(attempt - 1, deps.backoff, deps.random ?? Math.random);
        // A retry that could not end before the invocation does is not started: cut off halfway,
        // it would take the caller's answer (and its records of what was sent) with it.
        if (deps.until !== undefined && now() + delay > deps.until) {
          deps.events?.failed?.(connectionId, new UnavailableError(OUT_OF_TIME, { cause: error }));
          return 'failed';
        }
        deps.events?.retry?.(connectionId, attempt, error);
        await (deps.sleep ?? realSleep)(delay);
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
