/**
 * The index reads every push makes (a uid's connections, a topic shard, a broadcast shard) ask
 * DynamoDB for the few attributes a delivery needs: a record that lists 100 grants and 100 topics
 * must not travel whole to the function, once per connection, on every push.
 */
import { describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store';
import { shardOf } from '../../lambdas/core/shard';
import { ENV } from '../../lambdas/shared/env';
import { documentClientFromEnv, dynamoClientFromEnv } from '../../lambdas/wiring';
import { virtualConnections } from '../support/virtual';
import { useTestStack } from './helpers';

const TOPICS = Array.from({ length: 100 }, (_, i) => `merchant-${i}.orders.notifications`);
const DELIVERY_ATTRIBUTES = ['connectionId', 'uid', 'subscriber', 'connectedAt', 'expiresAt', 'tokenExp'];

/** The handlers' own read client, with every Query answer's raw items kept as DynamoDB sent them. */
function recordingReads(env: NodeJS.ProcessEnv) {
  const client = dynamoClientFromEnv(env);
  const items: Record<string, unknown>[] = [];
  const send = client.send.bind(client);
  client.send = (async (command) => {
    const out = await send(command);
    items.push(
      ...(((out as { Items?: Record<string, unknown>[] }).Items ?? []) as Record<string, unknown>[]),
    );
    return out;
  }) as typeof client.send;
  return { client, items };
}

describe('index reads', () => {
  const stack = useTestStack();

  it('read only what a delivery needs of records holding 100 grants and topics', async () => {
    const ids = await virtualConnections(stack).add(3, { uid: () => 'wide', topics: TOPICS, shardSpread: 1 });
    const env = { ...stack.environmentOf('publish') } as NodeJS.ProcessEnv;
    const reads = recordingReads(env);
    const table = env[ENV.connectionsTable] as string;
    const store = new DynamoConnectionStore(documentClientFromEnv(env), table, { reads: reads.client });
    const now = Date.now();

    const byUid = await store.byUid('wide', now);
    const topicShard = await store.readShard(
      { topic: TOPICS[7] as string },
      shardOf(ids[0] as string),
      now,
      10,
    );
    const allShard = await store.readShard({ all: true }, 0, now, Number.POSITIVE_INFINITY);

    expect(byUid.map((t) => t.connectionId).sort()).toEqual([...ids].sort());
    expect(byUid.every((t) => t.uid === 'wide' && t.tokenExp !== undefined && (t.connectedAt ?? 0) > 0)).toBe(
      true,
    );
    expect(topicShard.targets.map((t) => t.uid)).toContain('wide');
    expect(allShard.targets.filter((t) => t.uid === 'wide')).toHaveLength(3);
    expect(reads.items.length).toBeGreaterThanOrEqual(3 + 1 + 3);
    const extra = new Set(reads.items.flatMap((item) => Object.keys(item)));
    for (const name of DELIVERY_ATTRIBUTES) extra.delete(name);
    expect([...extra]).toEqual([]);
  });
});

describe('index reads through the local stack’s index lag', () => {
  const stack = useTestStack({ indexLagMs: 60_000 });

  it('still hide an item put a moment ago, and answer only the attributes asked for', async () => {
    // Written through BatchWriteItem, which the lag does not model: these are old enough.
    await virtualConnections(stack).add(1, { uid: () => 'lagging', topics: TOPICS, shardSpread: 1 });
    const env = { ...stack.environmentOf('publish') } as NodeJS.ProcessEnv;
    const reads = recordingReads(env);
    const table = env[ENV.connectionsTable] as string;
    const store = new DynamoConnectionStore(documentClientFromEnv(env), table, { reads: reads.client });
    // One more, put just now (a PutItem, as $connect stores it): the index does not show it yet.
    const now = Date.now();
    await store.put({
      connectionId: 'fresh-connection-id=',
      uid: 'lagging',
      shard: 0,
      connectedAt: now,
      lastSeenAt: now,
      expiresAt: Math.floor(now / 1000) + 3600,
      grants: TOPICS,
      tokenExp: Math.floor(now / 1000) + 3600,
    });

    const found = await store.byUid('lagging', now);
    expect(found).toHaveLength(1);
    expect(found[0]?.connectionId).not.toBe('fresh-connection-id=');
    const extra = new Set(reads.items.flatMap((item) => Object.keys(item)));
    for (const name of DELIVERY_ATTRIBUTES) extra.delete(name);
    expect([...extra]).toEqual([]);
  });
});
