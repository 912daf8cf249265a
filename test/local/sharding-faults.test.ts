/**
 * The sharded path as an operator meets it when things go wrong behind it: the Management API
 * answering 410 for connections still inside `$connect`, and the publishes table emptied while a
 * shard job runs. The real publish handler queues the jobs, the real worker runs them.
 */
import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { PUBLISH_ATTR, PUBLISH_PART, PUBLISHES_TABLE } from '../../lambdas/shared/tables';
import { virtualConnections } from '../support/virtual';
import { within } from '../support/within';
import { documentClient, postJson, useTestStack, WAIT_MS } from './helpers';

const THRESHOLD = 2;

/** Each worker's share of the rate budget: 100 deliveries/s, so a shard's run lasts seconds. */
const WORKER_RATE = 100;

// A grace far longer than any run of this file: the rule under test, not the clock, decides.
const stack = useTestStack({
  shardThreshold: THRESHOLD,
  environment: {
    [ENV.connectGraceMs]: String(60 * 60_000),
    [ENV.rateBudget]: String(WORKER_RATE * LIMITS.workerConcurrency),
  },
});

afterEach(async () => {
  stack.emulator.faults.management = undefined;
  await stack.shardQueue.whenDrained(WAIT_MS);
  virtualConnections(stack).resetCounts();
});

async function status(id: string): Promise<unknown> {
  return (await fetch(`${stack.httpUrl}/publish/${encodeURIComponent(id)}`)).json();
}

describe('a shard worker meeting a 410', () => {
  it('keeps the records of connections young enough to be inside $connect, as an inline publish does', async () => {
    const ids = await virtualConnections(stack).add(THRESHOLD + 2, { topics: ['opening'], shardSpread: 2 });
    // API Gateway answers 410 to a connection until its $connect has returned.
    stack.emulator.faults.management = { goneRate: 1 };

    const first = await postJson(stack, '/publish', { to: { topic: 'opening' }, data: 1, id: 'opening-1' });
    await stack.shardQueue.whenDrained(WAIT_MS);
    stack.emulator.faults.management = undefined;

    expect(first.body).toEqual({ id: 'opening-1', queued: true, shards: 2 });
    expect(await status('opening-1')).toMatchObject({
      status: 'done',
      connections: ids.length,
      gone: ids.length,
    });
    // Their records are still there: the next publish finds every one of them.
    const second = await postJson(stack, '/publish', { to: { topic: 'opening' }, data: 2, id: 'opening-2' });
    await stack.shardQueue.whenDrained(WAIT_MS);
    expect(second.body).toEqual({ id: 'opening-2', queued: true, shards: 2 });
    expect(virtualConnections(stack).copies(ids)).toEqual({ 1: ids.length });
  });
});

/** Every item the publishes table holds for one publish id (its id record, summary and shards). */
async function publishItems(id: string): Promise<Record<string, unknown>[]> {
  const doc = documentClient(stack);
  try {
    const out = await doc.send(
      new QueryCommand({
        TableName: stack.tableNames[PUBLISHES_TABLE.id],
        KeyConditionExpression: '#id = :id',
        ExpressionAttributeNames: { '#id': PUBLISH_ATTR.id },
        ExpressionAttributeValues: { ':id': id },
        ConsistentRead: true,
      }),
    );
    return out.Items ?? [];
  } finally {
    doc.destroy();
  }
}

/** Deletes what the publishes table holds for `id`, as emptying or restoring the table would. */
async function forget(id: string): Promise<void> {
  const doc = documentClient(stack);
  try {
    for (const item of await publishItems(id)) {
      const Key = { [PUBLISH_ATTR.id]: id, [PUBLISH_ATTR.part]: item[PUBLISH_ATTR.part] };
      await doc.send(new DeleteCommand({ TableName: stack.tableNames[PUBLISHES_TABLE.id], Key }));
    }
  } finally {
    doc.destroy();
  }
}

describe('a shard job whose publish records vanish while it runs', () => {
  it('still delivers the rest of its shard, and records its progress afresh', async () => {
    // Three checkpoint intervals and ten in one shard: at WORKER_RATE the run takes over 7 s, of
    // which 5 after its first checkpoint, however fast the machine.
    const total = 3 * LIMITS.checkpointEvery + 10;
    const ids = await virtualConnections(stack).add(total, { topics: ['emptied'], shardSpread: 1 });
    const shardPart = PUBLISH_PART.shard(0);
    const checkpointed = async () =>
      (await publishItems('emptied-1')).some(
        (item) => item[PUBLISH_ATTR.part] === shardPart && item[PUBLISH_ATTR.checkpoint] !== undefined,
      );

    const answer = await postJson(stack, '/publish', { to: { topic: 'emptied' }, data: 1, id: 'emptied-1' });
    expect(answer.body).toEqual({ id: 'emptied-1', queued: true, shards: 1 });
    await within(
      (async () => {
        while (!(await checkpointed())) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      4 * WAIT_MS,
      'the first checkpoint',
    );
    await forget('emptied-1');
    await stack.shardQueue.whenDrained(6 * WAIT_MS);

    // Nobody was left without the message; what went out after the last checkpoint before the
    // reset may have gone twice (same id: clients drop it).
    expect(virtualConnections(stack).copies(ids)[0]).toBeUndefined();
    const shard = (await publishItems('emptied-1')).find((item) => item[PUBLISH_ATTR.part] === shardPart);
    // The record was written afresh after the reset, counting only what came after it.
    expect(shard).toMatchObject({ [PUBLISH_ATTR.done]: true });
    expect(Number(shard?.[PUBLISH_ATTR.connections])).toBeLessThan(total);
  });
});
