import { LIMITS } from '../shared/limits';
import type { ConnectionStore, ShardAudience, ShardRead, Target } from './ports';
import type { PublishTarget } from './publish-request';

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

/** The targets with each connection once, in the order first found. */
export function unique(found: readonly Target[]): Target[] {
  const seen = new Set<string>();
  return found.filter((target) => {
    if (seen.has(target.connectionId)) return false;
    seen.add(target.connectionId);
    return true;
  });
}
