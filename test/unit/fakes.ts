import type { ConnectionStore } from '../../lambdas/core/ports';

/**
 * A store that holds nothing; tests override the methods they exercise. Its `readShard` reads
 * through the store's own `byTopic`/`byShard` (overridden or not) and cuts the list at the limit.
 */
export function emptyStore(overrides: Partial<ConnectionStore> = {}): ConnectionStore {
  const store: ConnectionStore = {
    async put() {},
    async remove() {
      return 1;
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
    async byShard() {
      return [];
    },
    async readShard(to, shard, nowMs, limit) {
      const all =
        'topic' in to ? await store.byTopic(to.topic, nowMs, shard) : await store.byShard(shard, nowMs);
      // As DynamoDB: a read that reaches its Limit reports more (LastEvaluatedKey), even if none follow.
      return { targets: all.slice(0, limit), complete: all.length < limit };
    },
    ...overrides,
  };
  return store;
}
