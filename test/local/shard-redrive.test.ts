/**
 * An operator's redrive of the shard dead-letter queue, on the local stack: a shard job that failed
 * every run is moved back to the shard queue after its cause is fixed, as SQS's redrive does (the
 * same body, sent to the source queue), and possibly twice. A job run that late must finish the
 * delivery to the connections that were there when it was published, and only those: connections
 * made since (every connection, hours later, API Gateway closing each after 2 h) must not get an
 * old message.
 */
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { PUBLISH_ATTR, PUBLISHES_TABLE } from '../../lambdas/shared/tables';
import { virtualConnections } from '../support/virtual';
import { connect, documentClient, postJson, useFaultProxyStack, WAIT_MS } from './helpers';

const THRESHOLD = 5;

const { stack, proxy } = useFaultProxyStack({
  shardThreshold: THRESHOLD,
  // Every job run after its publish counts as late, as a redrive hours later does: without the
  // hours. (Deployed, a job is late past `shardQueueMaxAge`; audienceOf's table tests the ages.)
  environment: { [ENV.shardJobLateMs]: '0' },
});
let sqs: SQSClient;

beforeAll(() => {
  sqs = new SQSClient({
    endpoint: stack.httpUrl,
    region: stack.region,
    credentials: { accessKeyId: 'operator', secretAccessKey: 'operator' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  sqs?.destroy();
});

/**
 * A publish whose one shard job fails every run and ends in the dead-letter queue; resolves to a
 * time no earlier than the publish's `ts` (when its answer came).
 */
async function deadLetteredPublish(topic: string, id: string): Promise<number> {
  proxy.faults.plan = (request) =>
    request.operation === 'Query' &&
    request.table === stack.tableNames[PUBLISHES_TABLE.id] &&
    request.body.includes(JSON.stringify(id))
      ? 'error'
      : undefined;
  // Failed runs come back at once, and the second lands in the dead-letter queue.
  const settings = {
    visibilityTimeoutMs: stack.shardQueue.visibilityTimeoutMs,
    maxReceiveCount: stack.shardQueue.maxReceiveCount,
  };
  Object.assign(stack.shardQueue, { visibilityTimeoutMs: 50, maxReceiveCount: 2 });
  // The worker hides each failed run's job for a backoff (1 s, every job being late here): the
  // test hands it out again at once instead.
  const off = stack.emulator.onInvoke((record) => {
    const [job] = (record.event as SQSEvent).Records ?? [];
    if (record.functionName === 'worker' && job?.body.includes(JSON.stringify(id)))
      stack.shardQueue.changeVisibility(job.receiptHandle, 0);
  });
  const answer = await postJson(stack, '/publish', { to: { topic }, data: { sale: id }, id });
  const published = Date.now();
  expect(answer.body).toEqual({ id, queued: true, shards: 1 });
  await stack.shardQueue.whenDrained(WAIT_MS);
  off();
  proxy.faults.plan = undefined;
  // The redriven job runs as deployed: no run comes back while another is under way.
  Object.assign(stack.shardQueue, settings);
  return published;
}

/**
 * Resolves once the clock is past the publish by the skew a job allows (LIMITS.clockSkewMs): a
 * connection made from then on is one made after the publish, as those of a redrive hours later
 * are. A wait on the clock itself, at most that second.
 */
async function pastPublish(published: number): Promise<void> {
  const left = published + LIMITS.clockSkewMs + 1 - Date.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
}

/** What `aws sqs start-message-move-task` does: every DLQ message's body back to the shard queue. */
async function redrive(): Promise<string[]> {
  const read = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: stack.shardQueue.deadLetterUrl, MaxNumberOfMessages: 10 }),
  );
  for (const message of read.Messages ?? []) {
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.shardQueue.url, MessageBody: message.Body }));
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: stack.shardQueue.deadLetterUrl,
        ReceiptHandle: message.ReceiptHandle,
      }),
    );
  }
  await stack.shardQueue.whenDrained(WAIT_MS);
  return (read.Messages ?? []).map((message) => message.Body ?? '');
}

describe('a shard job redriven from the dead-letter queue', () => {
  it('reaches the connections made before its publish once, however often it is redriven, and none made since', async () => {
    const before = await virtualConnections(stack).add(THRESHOLD + 1, { topics: ['sale'], shardSpread: 1 });
    const published = await deadLetteredPublish('sale', 'sale-1');
    expect(virtualConnections(stack).copies(before)).toEqual({ 0: THRESHOLD + 1 });
    await pastPublish(published);

    // Later: new connections in the same shard, subscribed to the same topic.
    const since = await virtualConnections(stack).add(THRESHOLD + 1, { topics: ['sale'], shardSpread: 1 });
    const [job] = await redrive();
    expect(JSON.parse(job ?? '')).toMatchObject({ id: 'sale-1', shard: 0 });
    expect(virtualConnections(stack).copies(before)).toEqual({ 1: THRESHOLD + 1 });
    expect(virtualConnections(stack).copies(since)).toEqual({ 0: THRESHOLD + 1 });

    // The operator redrives again (the same job sent twice): the shard is done, nothing goes out.
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.shardQueue.url, MessageBody: job }));
    await stack.shardQueue.whenDrained(WAIT_MS);
    expect(virtualConnections(stack).copies(before)).toEqual({ 1: THRESHOLD + 1 });
    expect(virtualConnections(stack).copies(since)).toEqual({ 0: THRESHOLD + 1 });
  });

  it('sends a real client that connected after the publish nothing, even once the publish record is gone', async () => {
    const before = await virtualConnections(stack).add(THRESHOLD + 1, { topics: ['flash'], shardSpread: 1 });
    const published = await deadLetteredPublish('flash', 'flash-1');

    // Days later the publish's records have expired and been deleted.
    const doc = documentClient(stack);
    const table = stack.tableNames[PUBLISHES_TABLE.id];
    const records = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#id = :id',
        ExpressionAttributeNames: { '#id': PUBLISH_ATTR.id },
        ExpressionAttributeValues: { ':id': 'flash-1' },
      }),
    );
    for (const item of records.Items ?? []) {
      await doc.send(
        new DeleteCommand({
          TableName: table,
          Key: {
            [PUBLISH_ATTR.id]: item[PUBLISH_ATTR.id],
            [PUBLISH_ATTR.part]: item[PUBLISH_ATTR.part],
          },
        }),
      );
    }
    await pastPublish(published);
    const socket = await connect(stack, 'late-reader', { topics: ['flash'] });
    expect(await socket.request({ action: 'subscribe', topic: 'flash' })).toEqual({
      type: 'subscribed',
      topic: 'flash',
    });
    const since = await virtualConnections(stack).add(THRESHOLD + 1, { topics: ['flash'], shardSpread: 1 });

    expect(await redrive()).toHaveLength(1);
    // The frame after the redrive is the pong: no message came first.
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(virtualConnections(stack).copies(since)).toEqual({ 0: THRESHOLD + 1 });
    expect(virtualConnections(stack).copies(before)).toEqual({ 1: THRESHOLD + 1 });
  });
});
