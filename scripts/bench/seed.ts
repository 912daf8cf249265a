/**
 * Connection records with no socket, built by the real store adapter so they have exactly the shape
 * `$connect` writes, and sent in BatchWriteItem requests of 25: several times faster on dynalite.
 */
import { BatchWriteCommand, type DynamoDBDocumentClient, type PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store';
import { expiresAtFor } from '../../lambdas/core/expiry';
import { forEachBounded } from '../../lambdas/core/pool';
import { shardOf } from '../../lambdas/core/shard';
import { ENV } from '../../lambdas/shared/env';
import { documentClientFromEnv } from '../../lambdas/wiring';
import { sleep } from './kit';

/** A document client that keeps the items it is asked to put (the adapter only ever puts here). */
function recordingClient(items: Record<string, unknown>[]): DynamoDBDocumentClient {
  const send = async (command: PutCommand) => {
    if (command.input.Item !== undefined) items.push(command.input.Item);
    return {};
  };
  return { send } as unknown as DynamoDBDocumentClient;
}

/** Writes `count` records from number `from`: connection `seed<i>=` (zero-padded) of uid `seed-<i>`. */
export async function seedConnections(options: {
  dynamodbEndpoint: string;
  tableName: string;
  count: number;
  from?: number;
  onProgress: (done: number) => void;
}): Promise<string[]> {
  const from = options.from ?? 0;
  const ids = Array.from({ length: options.count }, (_, i) => `seed${String(from + i).padStart(7, '0')}=`);
  const items: Record<string, unknown>[] = [];
  const recorder = new DynamoConnectionStore(recordingClient(items), options.tableName);
  const now = Date.now();
  for (const [i, connectionId] of ids.entries()) {
    await recorder.put({
      connectionId,
      uid: `seed-${from + i}`,
      shard: shardOf(connectionId),
      connectedAt: now,
      lastSeenAt: now,
      expiresAt: expiresAtFor(now),
      grants: [],
      sourceIp: '127.0.0.1',
      userAgent: 'bench',
    });
  }
  // The handlers' own client and marshalling.
  const doc = documentClientFromEnv({ [ENV.dynamodbEndpoint]: options.dynamodbEndpoint });
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let done = 0;
  try {
    await forEachBounded(batches, 8, async (batch) => {
      let requests = batch.map((Item) => ({ PutRequest: { Item } }));
      for (let round = 0; requests.length > 0; round++) {
        if (round >= 10) throw new Error(`DynamoDB left ${requests.length} seeded records unprocessed`);
        if (round > 0) await sleep(20 * 2 ** round);
        const out = await doc.send(
          new BatchWriteCommand({ RequestItems: { [options.tableName]: requests } }),
        );
        requests = (out.UnprocessedItems?.[options.tableName] ?? []) as typeof requests;
      }
      done += batch.length;
      options.onProgress(done);
    });
  } finally {
    doc.destroy();
  }
  return ids;
}
