import type { ConnectionStore, ShardAudience, Target } from '../../lambdas/core/ports';

/** A store that holds nothing; tests override the methods they exercise. */
export function emptyStore(overrides: Partial<ConnectionStore> = {}): ConnectionStore {
  return {
    async put() {},
    async remove() {
      return 1;
    },
    async claim() {
      return true;
    },
    async isStored() {
      return true;
    },
    async touch() {
      return true;
    },
    async subscribe() {},
    async unsubscribe() {},
    async connectionsOf() {
      return [];
    },
    async byUid() {
      return [];
    },
    async byTopic() {
      return [];
    },
    async readShard() {
      return { targets: [], complete: true };
    },
    async beginReplay() {
      return 'started' as const;
    },
    async endReplay() {},
    ...overrides,
  };
}

/** A `readShard` over fixed lists per audience and shard, cut at the limit. */
export function shardReader(
  list: (to: ShardAudience, shard: number) => Target[],
): ConnectionStore['readShard'] {
  return async (to, shard, _nowMs, limit) => {
    const all = list(to, shard);
    // As DynamoDB: a read that reaches its Limit reports more (LastEvaluatedKey), even if none follow.
    return { targets: all.slice(0, limit), complete: all.length < limit };
  };
}
