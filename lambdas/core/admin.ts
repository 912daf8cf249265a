import { LimitExceededError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { QUOTAS } from '../shared/quotas';
import type { PresenceQuery } from './command';
import type { DeliveryDeps } from './delivery';
import { encodeFrame } from './frames';
import { forEachBounded } from './pool';
import type { ConnectionDetails, ConnectionStore, Gateway, Target } from './ports';
import { endConnection } from './sessions';

/** Presence of one uid. */
export interface UidPresence {
  readonly uid: string;
  readonly online: boolean;
  readonly connections: ConnectionDetails[];
}

/** Presence of a topic. */
export interface TopicPresence {
  readonly topic: string;
  readonly connections: number;
  readonly uids: number;
}

/** Which of several uids are online. */
export interface UidsPresence {
  readonly online: string[];
  readonly offline: string[];
}

export type PresenceResult = UidPresence | TopicPresence | UidsPresence;

/**
 * True when a connection was seen (connected, pinged or subscribed) within API Gateway's idle
 * timeout. One seen longer ago is not online, whatever its record says: API Gateway would have
 * closed a socket that quiet, or its `$disconnect` was lost. (A socket kept open by server pushes
 * alone is not seen either; the client library pings every 5 minutes whatever it receives.)
 */
export function seenRecently(connection: Pick<ConnectionDetails, 'lastSeenAt'>, nowMs: number): boolean {
  return nowMs - connection.lastSeenAt < QUOTAS.idleTimeoutSeconds * 1000;
}

/**
 * Answers a presence query from the store alone. A uid is online while one of its connections was
 * seen within the idle timeout ({@link seenRecently}); expired records never count. A topic's
 * counts are of its subscriptions whose connection was seen within the idle timeout too, by the
 * same rule: subscription records do not carry `lastSeenAt` (a ping would have to rewrite every
 * one of them), so the subscribers' connection records are read, one Query per distinct uid: a
 * topic with more than {@link LIMITS.maxPresenceTopicUids} of them is refused with
 * {@link LimitExceededError} before any of their connections is read, and its subscriptions are
 * read only until the page that shows it: a broadcast-sized topic is never read whole for a refusal.
 */
export async function presence(
  query: PresenceQuery,
  store: ConnectionStore,
  nowMs: number,
): Promise<PresenceResult> {
  if ('uid' in query) {
    const connections = (await store.connectionsOf(query.uid, nowMs))
      .filter((c) => seenRecently(c, nowMs))
      // The instance only orders evictions; presence answers what the README lists.
      .map(({ instance: _instance, ...connection }) => connection);
    return { uid: query.uid, online: connections.length > 0, connections };
  }
  if ('uids' in query) {
    const online: string[] = [];
    const offline: string[] = [];
    const found = new Map<string, boolean>();
    await forEachBounded(query.uids, 16, async (uid) => {
      found.set(
        uid,
        (await store.connectionsOf(uid, nowMs)).some((c) => seenRecently(c, nowMs)),
      );
    });
    for (const uid of query.uids) (found.get(uid) ? online : offline).push(uid);
    return { online, offline };
  }
  const max = LIMITS.maxPresenceTopicUids;
  const subscribers = await store.byTopic(query.topic, nowMs, max);
  const uids = [...new Set(subscribers.map((s) => s.uid))];
  if (uids.length > max) {
    throw new LimitExceededError(
      `topic ${query.topic} has more than ${max} subscribing uids; its presence reads each uid's connections, so it answers only up to ${max}`,
    );
  }
  const seen = new Set<string>();
  await forEachBounded(uids, 16, async (uid) => {
    for (const connection of await store.connectionsOf(uid, nowMs)) {
      if (seenRecently(connection, nowMs)) seen.add(connection.connectionId);
    }
  });
  const online = subscribers.filter((s) => seen.has(s.connectionId));
  return {
    topic: query.topic,
    connections: online.length,
    uids: new Set(online.map((s) => s.uid)).size,
  };
}

/** What a kick did. */
export interface KickResult {
  readonly closed: number;
  /** Set when the kick also revoked the uid's tokens issued until then. */
  readonly revoked?: true;
}

/**
 * What a kick that revoked tokens ends: the uid's connections made by `connectedBy` (epoch ms),
 * or whose store does not say when. Those may hold a revoked token: their `$connect` may have
 * re-read the revocation before it was stored. A connection made later found the revocation
 * there, so its token was issued after the line, and it stays.
 */
export interface KickRevocation {
  readonly connectedBy: number;
  /** The second lookup, when there is time for it. */
  readonly recheck?: KickRecheck;
}

/** A second lookup of a kick, for connections the first could not see yet. */
export interface KickRecheck {
  /** How long to wait before it, in ms. */
  readonly afterMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** The second lookup failed; the kick still answers what the first did. */
  readonly failed?: (error: unknown) => void;
}

/**
 * Ends every session of a uid: each connection first gets `{"type":"kicked","reason":...}`,
 * then is closed through the Management API, and its records are removed. A connection that is
 * already gone still has its records removed, but is not counted as closed; one made less than
 * `connectGraceMs` ago that answers 410 may be a handshake still running, and keeps them (see
 * the comment in the body), also not counted.
 *
 * With `revocation` (a kick that revokes), only connections made by `revocation.connectedBy` are
 * ended (see {@link KickRevocation}): a kick sent again after the user signed in anew leaves the
 * new sessions alone. With its `recheck`, the uid's connections are looked up again after
 * `recheck.afterMs`: the `byUid` index lags its table, so one stored just before the kick may be
 * missing from the first lookup. The second ends those of them it finds that the first did not
 * end, and tries again the closes that failed the first time and the young connections that
 * answered 410 (opened by now, a post reaches them; one still gone loses its records), also when
 * the second lookup fails. That failure is reported to `recheck.failed`, not thrown: the
 * revocation and the first lookup's closes are done.
 */
export async function kick(
  uid: string,
  reason: string | undefined,
  deps: DeliveryDeps & { gateway: Gateway; store: ConnectionStore },
  nowMs: number,
  revocation?: KickRevocation,
): Promise<KickResult> {
  const frame = encodeFrame(reason === undefined ? { type: 'kicked' } : { type: 'kicked', reason });
  const ended = new Set<string>();
  const failed = new Map<string, Target>();
  let closed = 0;
  const recheck = revocation?.recheck;
  const now = deps.now ?? Date.now;
  const graceMs = deps.connectGraceMs ?? LIMITS.connectGraceMs;
  // API Gateway answers 410 to a connection whose handshake is still running. Deleting its records
  // then would open a socket no push reaches, so such a young connection keeps them and opens
  // reachable, as one made just after the kick would; with revoke, its `$connect` refuses it, or
  // the second lookup, by when it has opened, ends it. A kick that revokes with no second lookup
  // deletes them: a revoked session must not open reachable.
  const graceful = revocation === undefined || recheck !== undefined;
  const end = (targets: readonly Target[], first: boolean) =>
    forEachBounded(targets, deps.concurrency ?? 16, async (target) => {
      const young =
        first && graceful && target.connectedAt !== undefined && now() - target.connectedAt < graceMs;
      const outcome = await endConnection(
        target.connectionId,
        frame,
        deps,
        young ? target.connectedAt : undefined,
      );
      if (outcome === 'failed' || (outcome === 'gone' && young && recheck !== undefined)) {
        failed.set(target.connectionId, target);
      } else {
        ended.add(target.connectionId);
        failed.delete(target.connectionId);
        if (outcome === 'closed') closed++;
      }
    });
  const made = (t: Target) =>
    revocation === undefined || t.connectedAt === undefined || t.connectedAt <= revocation.connectedBy;
  await end((await deps.store.byUid(uid, nowMs)).filter(made), true);
  if (recheck !== undefined) {
    try {
      await recheck.sleep(recheck.afterMs);
      let late: Target[] = [];
      try {
        const found = await deps.store.byUid(uid, nowMs);
        late = found.filter((t) => !ended.has(t.connectionId) && !failed.has(t.connectionId) && made(t));
      } catch (error) {
        // What the first lookup left to end is still ended: a young connection kept for now above
        // must not stay open with a revoked token because the index could not be read again.
        recheck.failed?.(error);
      }
      await end([...failed.values(), ...late], false);
    } catch (error) {
      recheck.failed?.(error);
    }
  }
  return { closed };
}
