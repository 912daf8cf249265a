/**
 * The sharded path end to end on the local stack: the real publish handler queues shard jobs on
 * the SQS endpoint, the real worker delivers them through the Management API, and
 * `GET /publish/<id>` sums their progress. Virtual connections are counted per id, so "exactly
 * once" is checked for every connection; a few real sockets check what a client sees. DynamoDB
 * (dynalite, or DynamoDB Local in CI's second pass) sits behind the fault proxy, which makes a
 * shard job fail in the middle of its run.
 */
import { DynamoDBClient, paginateQuery } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { shardOf } from '../../lambdas/core/shard';
import { INDEX_ORDER } from '../../lambdas/core/shard-jobs';
import { LIMITS } from '../../lambdas/shared/limits';
import { ATTR, INDEX, PUBLISHES_TABLE } from '../../lambdas/shared/tables';
import type { InvocationRecord } from '../../local/functions';
import { virtualConnections } from '../support/virtual';
import { closeOpenSockets, connect, postJson, type TestSocket, useFaultProxyStack, WAIT_MS } from './helpers';

const THRESHOLD = 5;

const { stack, proxy } = useFaultProxyStack({ shardThreshold: THRESHOLD });
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  proxy.faults.plan = undefined;
  await closeOpenSockets();
  await stack.shardQueue.whenDrained(WAIT_MS);
  virtualConnections(stack).resetCounts();
});

/** The status `GET /publish/<id>` answers. */
async function status(id: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${stack.httpUrl}/publish/${encodeURIComponent(id)}`);
  return { status: res.status, body: await res.json() };
}

/** A real socket subscribed to `topic`. */
async function subscriber(uid: string, topic: string): Promise<TestSocket> {
  const socket = await connect(stack, uid, { topics: [topic] });
  expect(await socket.request({ action: 'subscribe', topic })).toEqual({ type: 'subscribed', topic });
  return socket;
}

/** The one message frame a socket got, proven single: a ping sent after it is answered next. */
async function onlyMessage(socket: TestSocket): Promise<Record<string, unknown>> {
  const message = await socket.nextJson();
  expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
  return message;
}

/**
 * The connections of one shard of `topic` in the order a worker reads and checkpoints them: the
 * byTopic index's own order, as a Query pages through it.
 */
async function indexOrder(topic: string, shard: number): Promise<string[]> {
  const client = new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: stack.region });
  const ids: string[] = [];
  try {
    const pages = paginateQuery(
      { client, pageSize: 100 },
      {
        TableName: stack.tableName,
        IndexName: INDEX.byTopic,
        KeyConditionExpression: '#t = :t AND #s = :s',
        ExpressionAttributeNames: { '#t': ATTR.topic, '#s': ATTR.topicShard },
        ExpressionAttributeValues: { ':t': { S: topic }, ':s': { N: String(shard) } },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) ids.push(String(item[ATTR.pk]?.S));
  } finally {
    client.destroy();
  }
  return ids;
}

/** Sets the shard queue's visibility timeout and receive limit for one test. */
function queueSettings(visibilityTimeoutMs: number, maxReceiveCount: number): void {
  const before = {
    visibilityTimeoutMs: stack.shardQueue.visibilityTimeoutMs,
    maxReceiveCount: stack.shardQueue.maxReceiveCount,
  };
  stack.shardQueue.visibilityTimeoutMs = visibilityTimeoutMs;
  stack.shardQueue.maxReceiveCount = maxReceiveCount;
  cleanups.push(() => Object.assign(stack.shardQueue, before));
}

/** Worker invocations from now on, for one publish id. */
function workerRuns(publishId: string): InvocationRecord[] {
  const runs: InvocationRecord[] = [];
  const off = stack.emulator.onInvoke((record) => {
    if (record.functionName !== 'worker') return;
    const body = (record.event as SQSEvent).Records[0]?.body ?? '';
    if (body.includes(JSON.stringify(publishId))) runs.push(record);
  });
  cleanups.push(off);
  return runs;
}

describe('a sharded publish', () => {
  it('queues a topic publish above the threshold and delivers it exactly once to every subscriber', async () => {
    const virtual = await virtualConnections(stack).add(40, { topics: ['orders'], shardSpread: 4 });
    const bystanders = await virtualConnections(stack).add(8, { topics: ['other'] });
    const sockets = [await subscriber('merchant-1', 'orders'), await subscriber('merchant-2', 'orders')];
    const shards = new Set([...virtual, ...sockets.map((s) => s.connectionId)].map((id) => shardOf(id)));

    const answer = await postJson(stack, '/publish', {
      to: { topic: 'orders' },
      data: { order: 1 },
      id: 'topic-1',
    });
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(answer).toEqual({ status: 200, body: { id: 'topic-1', queued: true, shards: shards.size } });
    expect(shards.size).toBeGreaterThan(1);
    expect(await status('topic-1')).toEqual({
      status: 200,
      body: {
        id: 'topic-1',
        status: 'done',
        shards: shards.size,
        shardsDone: shards.size,
        connections: 42,
        delivered: 42,
        gone: 0,
        failed: 0,
      },
    });
    expect(virtualConnections(stack).copies(virtual)).toEqual({ 1: 40 });
    expect(virtualConnections(stack).copies(bystanders)).toEqual({ 0: 8 });
    const frame = JSON.parse(virtualConnections(stack).lastPayload(virtual[0] as string) as string);
    expect(frame).toEqual({
      type: 'message',
      id: 'topic-1',
      topic: 'orders',
      data: { order: 1 },
      ts: expect.any(Number),
    });
    for (const socket of sockets) expect(await onlyMessage(socket)).toEqual(frame);
  });

  it('shards a broadcast over every shard that has connections and reaches each connection once', async () => {
    await virtualConnections(stack).add(32, { shardSpread: LIMITS.shards });
    const socket = await connect(stack, 'watcher');
    const everyone = [...virtualConnections(stack).ids(), socket.connectionId];
    const shards = new Set(everyone.map((id) => shardOf(id)));

    const answer = await postJson(stack, '/publish', { to: { all: true }, data: 'hello', id: 'all-1' });
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(answer.body).toEqual({ id: 'all-1', queued: true, shards: shards.size });
    expect(shards.size).toBe(LIMITS.shards);
    expect(await status('all-1')).toMatchObject({
      status: 200,
      body: {
        status: 'done',
        shardsDone: LIMITS.shards,
        connections: everyone.length,
        delivered: everyone.length,
      },
    });
    expect(virtualConnections(stack).copies(virtualConnections(stack).ids())).toEqual({
      1: everyone.length - 1,
    });
    expect(await onlyMessage(socket)).toMatchObject({ type: 'message', id: 'all-1', data: 'hello' });
  });

  it('queues a broadcast of the largest data a publish may carry to every shard, and reaches each connection once', async () => {
    // Sixteen jobs of a 127 KB frame each: ten of them in one SendMessageBatch would be past SQS's
    // 1 MiB per request, which refused the whole publish (and every retry of it).
    await virtualConnections(stack).add(32, { shardSpread: LIMITS.shards });
    const everyone = virtualConnections(stack).ids();
    const data = 'x'.repeat(LIMITS.maxDataBytes - 2);

    const answer = await postJson(stack, '/publish', { to: { all: true }, data, id: 'all-big' });
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(answer).toEqual({ status: 200, body: { id: 'all-big', queued: true, shards: LIMITS.shards } });
    expect(await status('all-big')).toMatchObject({
      status: 200,
      body: { status: 'done', shardsDone: LIMITS.shards, delivered: everyone.length, failed: 0 },
    });
    expect(virtualConnections(stack).copies(everyone)).toEqual({ 1: everyone.length });
  });

  it('queues a broadcast whose data holds U+FFFE and U+FFFF, and delivers that data unchanged', async () => {
    // JSON leaves the two noncharacters raw, and SQS takes neither in a body: each shard job was
    // refused, so the publish answered 429 (and every retry of it), with its status queued for good.
    await virtualConnections(stack).add(32, { shardSpread: LIMITS.shards });
    const socket = await connect(stack, 'nonchar-watcher');
    const everyone = [...virtualConnections(stack).ids(), socket.connectionId];
    // The largest such data a publish may carry: 3 bytes of UTF-8 each, 6 once escaped in a job.
    const data = `a\ufffeb${'\uffff'.repeat((LIMITS.maxDataBytes - 7) / 3)}`;
    expect(Buffer.byteLength(JSON.stringify(data))).toBe(LIMITS.maxDataBytes);

    const answer = await postJson(stack, '/publish', { to: { all: true }, data, id: 'all-nonchar' });
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(answer).toEqual({ status: 200, body: { id: 'all-nonchar', queued: true, shards: LIMITS.shards } });
    expect(await status('all-nonchar')).toMatchObject({
      status: 200,
      body: { status: 'done', shardsDone: LIMITS.shards, delivered: everyone.length, failed: 0 },
    });
    expect(virtualConnections(stack).copies(virtualConnections(stack).ids())).toEqual({
      1: everyone.length - 1,
    });
    expect(await onlyMessage(socket)).toEqual({
      type: 'message',
      id: 'all-nonchar',
      data,
      ts: expect.any(Number),
    });
  });

  it('delivers inline, unqueued, at or below the threshold', async () => {
    const few = await virtualConnections(stack).add(THRESHOLD, { topics: ['small'] });

    const answer = await postJson(stack, '/publish', { to: { topic: 'small' }, data: 1, id: 'small-1' });

    expect(answer).toEqual({
      status: 200,
      body: { id: 'small-1', connections: THRESHOLD, delivered: THRESHOLD, gone: 0, failed: 0, stored: 0 },
    });
    expect(virtualConnections(stack).copies(few)).toEqual({ 1: THRESHOLD });
    expect(stack.shardQueue.stats.queue).toMatchObject({ visible: 0, inFlight: 0 });
  });
});

describe('a retried shard', () => {
  it('resumes after the last checkpoint: only what came after it is sent again', async () => {
    // One shard of a checkpoint interval and ten: the write of the final checkpoint fails.
    const every = LIMITS.checkpointEvery;
    const added = await virtualConnections(stack).add(every + 10, { topics: ['big'], shardSpread: 1 });
    // The worker delivers and checkpoints in the index's order, not the ids'.
    const ids = await indexOrder('big', 0);
    expect([...ids].sort()).toEqual([...added].sort());
    const runs = workerRuns('big-1');
    // DynamoDB fails every write of the second checkpoint (the SDK's retries included) until the
    // first run has given up.
    const secondCheckpoint = JSON.stringify(INDEX_ORDER + ids.at(-1));
    let failing = true;
    proxy.faults.plan = (request) =>
      failing &&
      request.operation === 'UpdateItem' &&
      request.table === stack.tableNames[PUBLISHES_TABLE.id] &&
      request.body.includes(secondCheckpoint)
        ? 'error'
        : undefined;
    // The first run's end switches the fault off and hands the job out again at once
    // (ChangeMessageVisibility to 0): with a long visibility timeout, no run can overlap another
    // however slow the machine, and the test need not wait one out.
    queueSettings(30_000, 5);
    const firstRunEnded = new Promise<void>((resolve) => {
      const off = stack.emulator.onInvoke((record) => {
        if (record.functionName !== 'worker') return;
        failing = false;
        off();
        const receipt = (record.event as SQSEvent).Records[0]?.receiptHandle as string;
        expect(stack.shardQueue.changeVisibility(receipt, 0)).toBe(true);
        resolve();
      });
    });

    const answer = await postJson(stack, '/publish', { to: { topic: 'big' }, data: 'x', id: 'big-1' });
    await firstRunEnded;
    await stack.shardQueue.whenDrained(WAIT_MS);

    expect(answer.body).toEqual({ id: 'big-1', queued: true, shards: 1 });
    expect(runs.map((r) => (r.result as SQSBatchResponse).batchItemFailures.length)).toEqual([1, 0]);
    expect(runs.map((r) => (r.event as SQSEvent).Records[0]?.attributes.ApproximateReceiveCount)).toEqual([
      '1',
      '2',
    ]);
    expect(await status('big-1')).toEqual({
      status: 200,
      body: {
        id: 'big-1',
        status: 'done',
        shards: 1,
        shardsDone: 1,
        connections: every + 10,
        delivered: every + 10,
        gone: 0,
        failed: 0,
      },
    });
    // Deliveries run on while a checkpoint is written, so the first run's checkpoint is wherever
    // its low watermark stood after `every` deliveries (or nowhere, if the watermark only moved
    // once all had finished). Everything up to it went out once; the rest, a suffix in the index's
    // order of at most one interval plus what was in flight, went out twice.
    const sentTwice = ids.findIndex((id) => virtualConnections(stack).deliveriesTo(id) !== 1);
    expect(sentTwice === 0 || sentTwice >= every).toBe(true);
    expect(virtualConnections(stack).copies(ids.slice(0, sentTwice))).toEqual(
      sentTwice === 0 ? {} : { 1: sentTwice },
    );
    expect(virtualConnections(stack).copies(ids.slice(sentTwice))).toEqual({ 2: ids.length - sentTwice });
  });

  it('lands in the dead-letter queue after maxReceiveCount failed runs, and the publish stays queued', async () => {
    const ids = await virtualConnections(stack).add(THRESHOLD + 1, {
      topics: ['poison'],
      shardSpread: 1,
    });
    const runs = workerRuns('poison-1');
    // Every read of the job's progress fails, so no run gets anywhere.
    let failing = true;
    proxy.faults.plan = (request) =>
      failing &&
      request.operation === 'Query' &&
      request.table === stack.tableNames[PUBLISHES_TABLE.id] &&
      request.body.includes('"poison-1"')
        ? 'error'
        : undefined;
    queueSettings(50, 2);
    // Each failed run hides its job for a backoff of seconds; the test hands it out again at once.
    cleanups.push(
      stack.emulator.onInvoke((record) => {
        const [job] = (record.event as SQSEvent).Records ?? [];
        if (record.functionName === 'worker' && job?.body.includes('"poison-1"'))
          stack.shardQueue.changeVisibility(job.receiptHandle, 0);
      }),
    );
    const deadBefore = stack.shardQueue.deadLetters().length;

    await postJson(stack, '/publish', { to: { topic: 'poison' }, data: 'x', id: 'poison-1' });
    await stack.shardQueue.whenDrained(WAIT_MS);
    failing = false;

    expect(runs).toHaveLength(2);
    const dead = stack.shardQueue.deadLetters().slice(deadBefore);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ receiveCount: 2 });
    expect(JSON.parse(dead[0]?.body ?? '')).toMatchObject({
      id: 'poison-1',
      shard: 0,
      to: { topic: 'poison' },
    });
    expect(await status('poison-1')).toMatchObject({
      status: 200,
      body: { status: 'queued', shards: 1, shardsDone: 0, connections: 0 },
    });
    expect(virtualConnections(stack).copies(ids)).toEqual({ 0: THRESHOLD + 1 });
  });
});

describe('GET /publish/<id>', () => {
  it('answers 404 with an error body for an id no sharded publish has', async () => {
    expect(await status('never-published')).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'no sharded publish with id never-published' } },
    });
  });

  it('answers 400 for an id the handler would refuse', async () => {
    expect(await status('has space')).toEqual({
      status: 400,
      body: { error: { code: 'bad_request', message: 'status must be a publish id' } },
    });
  });
});
