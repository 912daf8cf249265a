import { UnavailableError } from '../shared/errors';
import { settleBefore } from './deadline';
import { type DeliveryDeps, deliverOne } from './delivery';
import { encodeFrame } from './frames';
import type { ConnectionDetails, ConnectionStore } from './ports';

/*
 * Ending sessions: a kick ends every connection of a uid, the connection cap ends the least
 * recently seen ones. Both tell the client why, close the socket, and remove its records.
 */

/** What ending one connection came to. */
export type EndOutcome = 'closed' | 'gone' | 'failed';

/**
 * Sends `frame` to a connection, closes it through the Management API and removes its records.
 * A connection that answers 410 is already gone (its records are removed by the delivery), unless
 * it was made less than `connectGraceMs` ago (`connectedAt`): its handshake may still be running,
 * and API Gateway answers 410 until `$connect` returns, so its records stay for the socket about
 * to open (see {@link deliverOne}). One that cannot be closed is reported through `events.failed`
 * and still has its records removed.
 *
 * `frameUntil` (epoch ms) bounds the frame's attempts for a caller whose invocation ends sooner
 * than all of them could take (`$connect`, 10 s, against 4 sends of up to 3.5 s): past it the
 * connection is closed without waiting for them. Its record may already be claimed (deleted), and
 * a socket left open with no record would get no push.
 */
export async function endConnection(
  connectionId: string,
  frame: string,
  deps: DeliveryDeps,
  connectedAt?: number,
  frameUntil = Number.POSITIVE_INFINITY,
): Promise<EndOutcome> {
  const sent = await settleBefore(
    deliverOne({ connectionId, payload: frame, ...(connectedAt === undefined ? {} : { connectedAt }) }, deps),
    frameUntil,
    deps.now,
  );
  if (sent.done && sent.value === 'gone') return 'gone';
  if (!sent.done) {
    deps.events?.failed?.(
      connectionId,
      new UnavailableError(`${frame} not sent before the invocation's end; closing without it`),
    );
  }
  let ended: EndOutcome = 'closed';
  try {
    await deps.gateway.close(connectionId);
  } catch (error) {
    deps.events?.failed?.(connectionId, error);
    ended = 'failed';
  }
  await deps.store.remove(connectionId);
  return ended;
}

/** The reason an evicted connection is given in its `kicked` frame. */
export const CONNECTION_LIMIT_REASON = 'connection_limit';

/**
 * Which of a uid's other connections must go so that, with the one just made, it holds at most
 * `max`: first those opened by the same client instance as the new one (`instance`: a rollover's
 * old socket, which the client is replacing anyway), then the least recently seen (oldest
 * `lastSeenAt`, then oldest `connectedAt`). A record whose `$disconnect` was lost stops being
 * seen, so it goes before any live one, and a user is never locked out by connections that no
 * longer exist; and a tab's rollover at the cap never ends another tab's connection.
 *
 * @example
 * evictionOrder([{ connectionId: 'a', lastSeenAt: 5, ... }, { connectionId: 'b', lastSeenAt: 1, ... }], 'c', 2) // ['b']
 */
export function evictionOrder(
  connections: readonly Pick<ConnectionDetails, 'connectionId' | 'connectedAt' | 'lastSeenAt' | 'instance'>[],
  keep: string,
  max: number,
  instance?: string,
): string[] {
  const others = connections.filter((c) => c.connectionId !== keep);
  const excess = others.length + 1 - max;
  if (excess <= 0) return [];
  const sibling = (c: { instance?: string }) => (instance !== undefined && c.instance === instance ? 0 : 1);
  return [...others]
    .sort(
      (a, b) =>
        sibling(a) - sibling(b) ||
        a.lastSeenAt - b.lastSeenAt ||
        a.connectedAt - b.connectedAt ||
        a.connectionId.localeCompare(b.connectionId),
    )
    .slice(0, excess)
    .map((c) => c.connectionId);
}

/** What {@link enforceConnectionLimit} came to. */
export interface CapOutcome {
  /** The connections this connect ended (claimed, sent `kicked`, closed, removed). */
  readonly evicted: string[];
  /**
   * Whether the uid held at least `max` connections with this one: then another connect of the
   * uid may be evicting this one while its handshake still runs.
   */
  readonly crowded: boolean;
}

/**
 * Holds a uid to `max` open connections after `keep` connected: every connection past the cap is
 * sent `{"type":"kicked","reason":"connection_limit"}`, closed and removed. Each one is claimed
 * first ({@link ConnectionStore.claim}), and only the connect that wins the claim ends it: in a
 * burst of simultaneous connects of one uid every connect sees much the same excess, and without
 * the claim each ended all of it, so `n` connects made about n² Management API calls (100
 * handshakes of one token: 5,832 calls, 9 s to open them all, another uid's handshake waiting
 * 2.6 s), where now each eviction costs its two calls once and a lost claim one DynamoDB delete.
 * The count comes from the uid index, which DynamoDB updates asynchronously: a burst can briefly
 * leave a uid above the cap, and its next connect ends the excess. `frameUntil`: see
 * {@link endConnection}.
 */
export async function enforceConnectionLimit(
  uid: string,
  keep: string,
  max: number,
  deps: DeliveryDeps,
  nowMs: number,
  instance?: string,
  frameUntil = Number.POSITIVE_INFINITY,
): Promise<CapOutcome> {
  const connections = await deps.store.connectionsOf(uid, nowMs);
  const seen = connections.some((c) => c.connectionId === keep) ? connections.length : connections.length + 1;
  const order = evictionOrder(connections, keep, max, instance);
  const frame = encodeFrame({ type: 'kicked', reason: CONNECTION_LIMIT_REASON });
  const won = await Promise.all(
    order.map(async (connectionId) => {
      if (!(await deps.store.claim(connectionId))) return false;
      await endConnection(connectionId, frame, deps, undefined, frameUntil);
      return true;
    }),
  );
  return { evicted: order.filter((_, i) => won[i]), crowded: seen >= max };
}
