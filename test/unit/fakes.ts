import type { ConnectionStore } from '../../lambdas/core/ports';

/** A store that holds nothing; tests override the methods they exercise. */
export function emptyStore(overrides: Partial<ConnectionStore> = {}): ConnectionStore {
  return {
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
    ...overrides,
  };
}
