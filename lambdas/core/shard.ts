import { LIMITS } from '../shared/limits';

/**
 * The shard a connection id falls in: FNV-1a over its UTF-16 code units, modulo `shards`.
 * Stable across processes and runtimes, so a record can be found again from its id alone.
 */
export function shardOf(connectionId: string, shards: number = LIMITS.shards): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) {
    hash ^= connectionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}
