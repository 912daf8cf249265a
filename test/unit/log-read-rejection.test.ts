import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoMessageLog } from '../../lambdas/adapters/dynamo-log';

// A resume reads the stream's counter beside its first page. When both fail (a deleted table,
// DynamoDB down), the read must reject once, with no rejection left unhandled: in the local
// stack an unhandled rejection ends the whole process (every socket, every function), and in
// Lambda it ends the environment instead of answering `unavailable`.
describe('DynamoMessageLog.read when DynamoDB fails', () => {
  const ddb = mockClient(DynamoDBClient);
  const log = new DynamoMessageLog(new DynamoDBClient({}), 'msgs', {
    retentionSeconds: 60,
    maxMessages: 10,
    topicHistory: [],
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
    ddb.reset();
  });

  it('leaves no rejection unhandled when the counter read fails after the page read', async () => {
    process.on('unhandledRejection', onUnhandled);
    const missing = Object.assign(new Error('Requested resource not found'), {
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 400 },
    });
    ddb.on(QueryCommand).rejects(missing);
    // The counter read fails only once the page read has failed and the read has rejected.
    let failHead: ((error: unknown) => void) | undefined;
    ddb.on(GetItemCommand).callsFake(
      () =>
        new Promise((_, reject) => {
          failHead = reject;
        }),
    );
    await expect(log.read('uid#u1', 0, Date.now(), 10)).rejects.toMatchObject({ code: 'unavailable' });
    expect(failHead).toBeDefined();
    failHead?.(missing);
    // Node reports an unhandled rejection once the microtasks after it have run: a macrotask later.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });
});
