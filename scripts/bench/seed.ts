/**
 * Connection records written straight into DynamoDB through the real store adapter, so they have
 * exactly the shape `$connect` writes. For scenarios that need many records but no sockets.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store';
import { expiresAtFor } from '../../lambdas/core/expiry';
import { forEachBounded } from '../../lambdas/core/pool';
import { shardOf } from '../../lambdas/core/shard';
import { FAKE_CREDENTIALS } from './env';

/** Options for {@link seedConnections}. */
export interface SeedOptions {
  readonly dynamodbEndpoint: string;
  readonly tableName: string;
  readonly count: number;
  /** Connection id of record `i`. @default `seed<i>=` padded, API Gateway-like */
  readonly idOf?: (i: number) => string;
  readonly uidOf?: (i: number) => string;
  /** Writes in flight. @default 32 */
  readonly concurrency?: number;
  readonly onProgress?: (done: number) => void;
}

/** Writes `count` connection records as `$connect` would, and resolves to their ids. */
export async function seedConnections(options: SeedOptions): Promise<string[]> {
  const client = new DynamoDBClient({
    endpoint: options.dynamodbEndpoint,
    region: 'us-east-1',
    credentials: FAKE_CREDENTIALS,
  });
  const store = new DynamoConnectionStore(DynamoDBDocumentClient.from(client), options.tableName);
  const idOf = options.idOf ?? ((i: number) => `seed${String(i).padStart(7, '0')}=`);
  const uidOf = options.uidOf ?? ((i: number) => `seed-${i}`);
  const ids = Array.from({ length: options.count }, (_, i) => idOf(i));
  const now = Date.now();
  let done = 0;
  try {
    await forEachBounded(
      ids.map((id, i) => [id, i] as const),
      options.concurrency ?? 32,
      async ([connectionId, i]) => {
        await store.put({
          connectionId,
          uid: uidOf(i),
          shard: shardOf(connectionId),
          connectedAt: now,
          lastSeenAt: now,
          expiresAt: expiresAtFor(now),
          grants: [],
          sourceIp: '127.0.0.1',
          userAgent: 'bench',
        });
        done++;
        if (done % 250 === 0 || done === ids.length) options.onProgress?.(done);
      },
    );
  } finally {
    client.destroy();
  }
  return ids;
}
