/**
 * A shard job's checkpoint is a position in the index's order, named by a connection id: a retry
 * reads on from just after it. The connection may have gone since (its `$disconnect` deleted its
 * records), so the position must hold without the record, on the DynamoDB the test runs on
 * (dynalite, or DynamoDB Local in CI's second pass).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store';
import { virtualConnections } from '../support/virtual';
import { useTestStack } from './helpers';

const stack = useTestStack();
let client: DynamoDBClient | undefined;
afterAll(() => client?.destroy());

function store(): DynamoConnectionStore {
  client ??= new DynamoDBClient({
    endpoint: stack.dynamodbEndpoint,
    region: stack.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return new DynamoConnectionStore(DynamoDBDocumentClient.from(client), stack.tableName);
}

/** Every connection of the shard, page by page from `after`, in the index's order. */
async function readFrom(
  connections: DynamoConnectionStore,
  to: { topic: string } | { all: true },
  after: string | undefined,
): Promise<string[]> {
  const ids: string[] = [];
  for (let position = after; ; ) {
    const page = await (connections.readShardPage as NonNullable<typeof connections.readShardPage>)(
      to,
      0,
      Date.now(),
      position,
      3,
    );
    ids.push(...page.targets.map((target) => target.connectionId));
    if (page.next === undefined) return ids;
    position = page.next;
  }
}

describe.each([
  ['a topic', { topic: 'positions' }],
  ['a broadcast', { all: true as const }],
])("a shard page of %s read from a connection's position", (_label, to) => {
  it('goes on just after it, also once the connection is gone', async () => {
    await virtualConnections(stack).add(10, { topics: ['positions'], shardSpread: 1 });
    const connections = store();
    const order = await readFrom(connections, to, undefined);
    expect(order.length).toBeGreaterThanOrEqual(10);
    const at = order[4] as string;
    expect(await readFrom(connections, to, at)).toEqual(order.slice(5));
    expect(await connections.remove(at)).toBeGreaterThan(0);
    expect(await readFrom(connections, to, at)).toEqual(order.slice(5));
  });
});
