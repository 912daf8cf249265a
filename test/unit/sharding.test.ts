import { describe, expect, it } from 'vitest';
import type { Gateway, Target } from '../../lambdas/core/ports';
import { publish } from '../../lambdas/core/publish';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { TokenBucket } from '../../lambdas/core/rate';
import {
  audienceOf,
  type ChunkCounts,
  decisionReadLimit,
  INDEX_ORDER,
  type PublishRecords,
  planShardJobs,
  runShardJob,
  type ShardJob,
  type ShardProgress,
} from '../../lambdas/core/shard-jobs';
import { UnavailableError } from '../../lambdas/shared/errors';
import { LIMITS, perWorkerRate, workerStopMarginMs } from '../../lambdas/shared/limits';
import { emptyStore, shardReader } from './fakes';

/** In-memory records with the same conditional-checkpoint rule as the DynamoDB adapter. */
function memoryRecords() {
  const shards = new Map<string, ShardProgress & ChunkCounts>();
  const created: { id: string; shards: readonly number[] }[] = [];
  const planned = new Map<string, Set<number>>();
  const key = (id: string, shard: number) => `${id}/${shard}`;
  const records: PublishRecords = {
    async create(id, list) {
      created.push({ id, shards: list });
      const all = planned.get(id) ?? new Set<number>();
      for (const shard of list) all.add(shard);
      planned.set(id, all);
      return [...all].sort((a, b) => a - b);
    },
    async planned(id) {
      return [...(planned.get(id) ?? [])].sort((a, b) => a - b);
    },
    async progress(id, shard) {
      const s = shards.get(key(id, shard));
      return { done: s?.done ?? false, ...(s?.checkpoint === undefined ? {} : { checkpoint: s.checkpoint }) };
    },
    async advance(id, shard, from, to, counts) {
      const s = shards.get(key(id, shard)) ?? {
        done: false,
        connections: 0,
        delivered: 0,
        gone: 0,
        failed: 0,
      };
      if (s.done || s.checkpoint !== from) return false;
      shards.set(key(id, shard), {
        done: false,
        checkpoint: to,
        connections: s.connections + counts.connections,
        delivered: s.delivered + counts.delivered,
        gone: s.gone + counts.gone,
        failed: s.failed + counts.failed,
      });
      return true;
    },
    async finish(id, shard) {
      const s = shards.get(key(id, shard)) ?? { connections: 0, delivered: 0, gone: 0, failed: 0 };
      shards.set(key(id, shard), { ...s, done: true });
    },
    async status() {
      return undefined;
    },
  };
  return { records, shards, created };
}

function shardStore(perShard: Record<number, string[]>) {
  const targets = (ids: string[]): Target[] =>
    ids.map((connectionId) => ({ connectionId, uid: `u-${connectionId}` }));
  return emptyStore({
    async byTopic() {
      return targets(Object.values(perShard).flat());
    },
    readShard: shardReader((_to, shard) => targets(perShard[shard] ?? [])),
  });
}

function countingGateway(failOn: (id: string, call: number) => boolean = () => false) {
  const sent: string[] = [];
  let calls = 0;
  const gateway: Gateway = {
    async send(connectionId) {
      calls++;
      if (failOn(connectionId, calls)) throw new UnavailableError('down');
      sent.push(connectionId);
    },
    async info() {
      throw new Error('unused');
    },
    async close() {},
  };
  return { gateway, sent };
}

describe('planShardJobs', () => {
  it('makes one job per non-empty shard', () => {
    expect(planShardJobs('p', { all: true }, 'x', [0, 3, 0, 1]).map((j) => j.shard)).toEqual([1, 3]);
  });
});

describe('publish above the shard threshold', () => {
  it('queues one job per non-empty shard and answers at once', async () => {
    const store = shardStore({ 0: ['a', 'b'], 5: ['c'], 9: ['d'] });
    const queued: ShardJob[] = [];
    const { records, created } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const result = await publish(
      parsePublishRequest({ to: { topic: 'orders' }, data: { n: 1 }, id: 'big' }),
      {
        store,
        gateway,
        records,
        queue: { enqueue: async (jobs) => void queued.push(...jobs) },
        shardThreshold: 3,
        now: () => 7,
      },
    );
    expect(result).toEqual({ id: 'big', queued: true, shards: 3 });
    expect(created).toEqual([{ id: 'big', shards: [0, 5, 9] }]);
    expect(queued).toEqual(
      [0, 5, 9].map((shard) => ({
        id: 'big',
        shard,
        to: { topic: 'orders' },
        payload: '{"type":"message","id":"big","topic":"orders","data":{"n":1},"ts":7}',
      })),
    );
    expect(sent).toEqual([]);
  });

  it('queues, on a retry, every shard any attempt planned, a shard empty by now included', async () => {
    // The first attempt planned shards 0, 5 and 9, and failed after SQS took only some jobs; by
    // the retry (same id) shard 9 has emptied. Queuing only 0 and 5 would leave shard 9 never run
    // and the publish queued for good.
    const { records } = memoryRecords();
    await records.create('retried', [0, 5, 9], 1);
    const queued: ShardJob[] = [];
    const result = await publish(parsePublishRequest({ to: { topic: 'orders' }, data: 1, id: 'retried' }), {
      store: shardStore({ 0: ['a', 'b'], 5: ['c', 'd'] }),
      gateway: countingGateway().gateway,
      records,
      queue: { enqueue: async (jobs) => void queued.push(...jobs) },
      shardThreshold: 3,
      now: () => 7,
    });
    expect(result).toEqual({ id: 'retried', queued: true, shards: 3 });
    expect(queued.map((job) => job.shard)).toEqual([0, 5, 9]);
  });

  it('queues, on a retry that finds the audience within the threshold now, every shard an earlier attempt planned', async () => {
    // The first attempt planned shards 0, 5 and 9 and failed before SQS took every job; by the
    // retry the audience has shrunk below the threshold. Delivering inline would leave the shards
    // never queued unrun, and the publish queued for good.
    const { records } = memoryRecords();
    await records.create('shrunk', [0, 5, 9], 1);
    const queued: ShardJob[] = [];
    const { gateway, sent } = countingGateway();
    const result = await publish(
      parsePublishRequest({ to: { topic: 'orders' }, data: 1, id: 'shrunk' }),
      {
        store: shardStore({ 0: ['a'], 5: ['c'] }),
        gateway,
        records,
        queue: { enqueue: async (jobs) => void queued.push(...jobs) },
        shardThreshold: 3,
        now: () => 7,
      },
      async () => ({ seqs: new Map(), retried: true }),
    );
    expect(result).toEqual({ id: 'shrunk', queued: true, shards: 3 });
    expect(queued.map((job) => job.shard)).toEqual([0, 5, 9]);
    expect(sent).toEqual([]);
  });

  it('delivers a retry inline within the threshold when no earlier attempt sharded it', async () => {
    const { records, created } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const result = await publish(
      parsePublishRequest({ to: { topic: 'orders' }, data: 1, id: 'small-retry' }),
      {
        store: shardStore({ 0: ['a'], 5: ['c'] }),
        gateway,
        records,
        queue: { enqueue: async () => expect.unreachable('nothing is queued') },
        shardThreshold: 3,
      },
      async () => ({ seqs: new Map(), retried: true }),
    );
    expect(result).toMatchObject({ id: 'small-retry', connections: 2, delivered: 2 });
    expect(sent.sort()).toEqual(['a', 'c']);
    expect(created).toEqual([]);
  });

  it('delivers inline at or below the threshold', async () => {
    const store = shardStore({ 0: ['a', 'b'], 5: ['c'] });
    const reads: number[] = [];
    const readShard = store.readShard.bind(store);
    store.readShard = (to, shard, now, limit) => {
      reads.push(shard);
      return readShard(to, shard, now, limit);
    };
    const { records } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const result = await publish(parsePublishRequest({ to: { all: true }, data: 1, id: 'small' }), {
      store,
      gateway,
      records,
      queue: { enqueue: async () => {} },
      shardThreshold: 3,
    });
    expect(result).toMatchObject({ id: 'small', connections: 3, delivered: 3 });
    expect(sent.sort()).toEqual(['a', 'b', 'c']);
    // The reads that decided against sharding are the target list: each shard is read once.
    expect(reads.sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });
});

describe('the sharding decision', () => {
  /** A broadcast over `perShard` at `threshold`, with each shard read's limit and what it found. */
  async function broadcastReading(perShard: Record<number, string[]>, id: string, threshold: number) {
    const store = shardStore(perShard);
    const limits: number[] = [];
    const counted: number[] = [];
    const readShard = store.readShard.bind(store);
    store.readShard = async (to, shard, now, limit) => {
      limits.push(limit);
      const read = await readShard(to, shard, now, limit);
      counted.push(read.targets.length);
      return read;
    };
    const queued: ShardJob[] = [];
    const { records } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const result = await publish(parsePublishRequest({ to: { all: true }, data: 1, id }), {
      store,
      gateway,
      records,
      queue: { enqueue: async (jobs) => void queued.push(...jobs) },
      shardThreshold: threshold,
    });
    return { result, limits, counted, queued, sent };
  }

  it('reads each shard only up to threshold + 1 records', async () => {
    const perShard = { 3: Array.from({ length: 50 }, (_, i) => `c${i}`), 8: ['x'] };
    const { result, limits, queued, sent } = await broadcastReading(perShard, 'capped', 10);
    expect(result).toEqual({ id: 'capped', queued: true, shards: 2 });
    expect(limits).toEqual(Array.from({ length: 16 }, () => 11));
    expect(queued.map((j) => j.shard)).toEqual([3, 8]);
    expect(sent).toEqual([]);
  });

  it.each([
    [2000, 16, 251],
    [800, 16, 101],
    [10, 16, 11],
    [3, 16, 4],
    [100_000, 16, 12_501],
    [2000, 1, 2001],
  ])(
    'decides threshold %i over %i shards from reads of at most %i records each',
    (threshold, shards, limit) => {
      expect(decisionReadLimit(threshold, shards)).toBe(limit);
    },
  );

  it('reads a big audience only to twice an even share of each shard', async () => {
    const perShard = { 3: Array.from({ length: 600 }, (_, i) => `c${i}`), 8: ['x'] };
    const { result, limits, counted, queued, sent } = await broadcastReading(perShard, 'share', 2000);
    // 600 is within the threshold, yet one shard past twice its share already decides: the
    // workers read it, the publish function read 251 of it.
    expect(result).toEqual({ id: 'share', queued: true, shards: 2 });
    expect(limits).toEqual(Array.from({ length: 16 }, () => 251));
    expect(Math.max(...counted)).toBe(251);
    expect(queued.map((j) => j.shard)).toEqual([3, 8]);
    expect(sent).toEqual([]);
  });

  it.each([
    ['delivers inline at exactly the threshold', { 0: ['a', 'b'], 4: ['c'], 9: ['d'] }, 4, false],
    [
      'shards one past the threshold, spread over shards',
      { 0: ['a', 'b'], 4: ['c'], 9: ['d', 'e'] },
      4,
      true,
    ],
    ['shards when one shard alone passes the threshold', { 2: ['a', 'b', 'c', 'd', 'e'] }, 4, true],
  ])('%s', async (_label, perShard, threshold, sharded) => {
    const queued: ShardJob[] = [];
    const { records } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const result = await publish(parsePublishRequest({ to: { topic: 'edge' }, data: 1, id: 'edge' }), {
      store: shardStore(perShard),
      gateway,
      records,
      queue: { enqueue: async (jobs) => void queued.push(...jobs) },
      shardThreshold: threshold,
    });
    const all = Object.values(perShard).flat();
    if (sharded) {
      expect(result).toEqual({ id: 'edge', queued: true, shards: Object.keys(perShard).length });
      expect(sent).toEqual([]);
    } else {
      expect(result).toMatchObject({ id: 'edge', connections: all.length, delivered: all.length });
      expect(queued).toEqual([]);
      expect(sent.sort()).toEqual([...all].sort());
    }
  });

  it('shards when a read stopped at its limit, even if every record it saw had expired', async () => {
    const store = shardStore({ 1: ['a'] });
    store.readShard = async (_to, shard) =>
      shard === 6
        ? { targets: [], complete: false }
        : { targets: shard === 1 ? [{ connectionId: 'a', uid: 'u' }] : [], complete: true };
    const queued: ShardJob[] = [];
    const { records } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const result = await publish(parsePublishRequest({ to: { topic: 't' }, data: 1, id: 'cut' }), {
      store,
      gateway,
      records,
      queue: { enqueue: async (jobs) => void queued.push(...jobs) },
      shardThreshold: 10,
    });
    expect(result).toEqual({ id: 'cut', queued: true, shards: 2 });
    expect(queued.map((j) => j.shard)).toEqual([1, 6]);
    expect(sent).toEqual([]);
  });
});

describe('audienceOf: who a shard job reaches', () => {
  const PUBLISHED = 1_000_000;
  const read = [
    { id: 'before', connectedAt: PUBLISHED - 5_000 },
    { id: 'at', connectedAt: PUBLISHED },
    { id: 'within skew', connectedAt: PUBLISHED + LIMITS.clockSkewMs },
    { id: 'after', connectedAt: PUBLISHED + LIMITS.clockSkewMs + 1 },
    { id: 'minutes after', connectedAt: PUBLISHED + 120_000 },
    { id: 'unknown' },
  ];
  const all = read.map((t) => t.id);
  const byPublish = ['before', 'at', 'within skew', 'unknown'];
  it.each([
    ['run at once', PUBLISHED, all],
    ['run through a backlog, at the late age exactly', PUBLISHED + LIMITS.shardJobLateMs, all],
    ['run 1 ms past the late age (a redrive)', PUBLISHED + LIMITS.shardJobLateMs + 1, byPublish],
    ['redriven days later', PUBLISHED + 3 * 86_400_000, byPublish],
  ])('%s: reaches %j', (_, nowMs, expected) => {
    expect(audienceOf(read, PUBLISHED, nowMs).map((t) => t.id)).toEqual(expected);
  });

  it('takes the stack’s late age, and reaches everyone found when the message has no ts', () => {
    expect(audienceOf(read, PUBLISHED, PUBLISHED + 2, 1).map((t) => t.id)).toEqual(byPublish);
    expect(audienceOf(read, undefined, PUBLISHED + 3 * 86_400_000).map((t) => t.id)).toEqual(all);
  });
});

describe('runShardJob', () => {
  const job: ShardJob = { id: 'p', shard: 2, to: { all: true }, payload: 'x' };
  const ids = Array.from({ length: 10 }, (_, i) => `c${String(i).padStart(2, '0')}`);

  it('delivers the shard in id order, checkpointing each chunk', async () => {
    const { records, shards } = memoryRecords();
    const { gateway, sent } = countingGateway();
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: [...ids].reverse() }),
        gateway,
        records,
        checkpointEvery: 4,
        concurrency: 1,
      }),
    ).resolves.toEqual({ outcome: 'done', connections: 10, delivered: 10, gone: 0, failed: 0 });
    expect(sent).toEqual(ids);
    expect(shards.get('p/2')).toEqual({
      done: true,
      checkpoint: 'c09',
      connections: 10,
      delivered: 10,
      gone: 0,
      failed: 0,
    });
  });

  it('resumes a retried job after its last checkpoint, re-sending only the chunk that was in flight', async () => {
    const { records, shards } = memoryRecords();
    const store = shardStore({ 2: ids });
    // The first run fails on infrastructure while checkpointing its second chunk (c04–c07).
    const first = countingGateway((id) => id === 'c05');
    const failingRecords: PublishRecords = {
      ...records,
      advance: async (id, shard, from, cp, counts) => {
        if (cp === 'c07') throw new UnavailableError('DynamoDB down');
        return records.advance(id, shard, from, cp, counts);
      },
    };
    await expect(
      runShardJob(job, {
        store,
        gateway: first.gateway,
        records: failingRecords,
        checkpointEvery: 4,
        concurrency: 1,
        attempts: 1,
      }),
    ).rejects.toThrow(UnavailableError);
    expect(shards.get('p/2')?.checkpoint).toBe('c03');

    const second = countingGateway();
    await expect(
      runShardJob(job, { store, gateway: second.gateway, records, checkpointEvery: 4, concurrency: 1 }),
    ).resolves.toEqual({ outcome: 'done', connections: 6, delivered: 6, gone: 0, failed: 0 });
    // Chunk one is never re-sent; the in-flight chunk is, and clients drop those by message id.
    expect(second.sent).toEqual(['c04', 'c05', 'c06', 'c07', 'c08', 'c09']);
    expect(first.sent.slice(0, 4)).toEqual(['c00', 'c01', 'c02', 'c03']);
    expect(shards.get('p/2')).toMatchObject({ done: true, connections: 10, delivered: 10, failed: 0 });
  });

  it('keeps delivering past a slow delivery up to one interval beyond it, and holds the checkpoint back until it finishes', async () => {
    const { records, shards } = memoryRecords();
    const checkpoints: string[] = [];
    const watched: PublishRecords = {
      ...records,
      advance: async (id, shard, from, cp, counts) => {
        checkpoints.push(`${cp}:${counts.connections}`);
        return records.advance(id, shard, from, cp, counts);
      },
    };
    const sent: string[] = [];
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const gateway: Gateway = {
      async send(connectionId) {
        // c01 answers only once c02-c04 have been delivered: a chunk barrier would wait for c01
        // before starting c04, and this job would never end.
        if (connectionId === 'c01') await slow;
        sent.push(connectionId);
        if (connectionId === 'c04') releaseSlow();
      },
      async info() {
        throw new Error('unused');
      },
      async close() {},
    };
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: ids }),
        gateway,
        records: watched,
        checkpointEvery: 4,
        concurrency: 2,
      }),
    ).resolves.toEqual({ outcome: 'done', connections: 10, delivered: 10, gone: 0, failed: 0 });
    // c02-c04 went past the slow c01, but nothing at watermark + interval (c05) started before it.
    expect(sent.slice(0, 5)).toEqual(['c00', 'c02', 'c03', 'c04', 'c01']);
    // Nothing past c00 was checkpointed while c01 was out; then the watermark jumped past c04.
    expect(checkpoints).toEqual(['c04:5', 'c08:4', 'c09:1']);
    expect(shards.get('p/2')).toMatchObject({
      done: true,
      checkpoint: 'c09',
      connections: 10,
      delivered: 10,
    });
  });

  it('counts each delivery once when two runs of one job overlap: the second run to write stops', async () => {
    const { records, shards } = memoryRecords();
    const store = shardStore({ 2: ids });
    // Both runs read "no checkpoint" before either writes, and their watermarks land on different
    // ids (c02 and c03): a rule that only wanted a later id would let the second count c00-c02 again.
    const [a, b] = [countingGateway(), countingGateway()];
    const outcomes = await Promise.all([
      runShardJob(job, { store, gateway: a.gateway, records, checkpointEvery: 3, concurrency: 1 }),
      runShardJob(job, { store, gateway: b.gateway, records, checkpointEvery: 4, concurrency: 1 }),
    ]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['done', 'skipped']);
    expect(shards.get('p/2')).toMatchObject({
      done: true,
      checkpoint: 'c09',
      connections: 10,
      delivered: 10,
    });
  });

  it('checkpoints the watermark every checkpointEvery deliveries while they run, in order, with their counts', async () => {
    const { records } = memoryRecords();
    const checkpoints: string[] = [];
    const watched: PublishRecords = {
      ...records,
      advance: async (id, shard, from, cp, counts) => {
        checkpoints.push(`${from ?? '-'}>${cp}:${counts.connections}/${counts.delivered}/${counts.failed}`);
        return records.advance(id, shard, from, cp, counts);
      },
    };
    const { gateway } = countingGateway((id) => id === 'c06');
    await runShardJob(job, {
      store: shardStore({ 2: ids }),
      gateway,
      records: watched,
      checkpointEvery: 3,
      concurrency: 3,
      attempts: 1,
    });
    expect(checkpoints).toEqual(['->c02:3/3/0', 'c02>c05:3/3/0', 'c05>c08:3/2/1', 'c08>c09:1/1/0']);
  });

  it('stops starting deliveries once another run of the job got further', async () => {
    const { records } = memoryRecords();
    const overtaking: PublishRecords = { ...records, advance: async () => false };
    const { gateway, sent } = countingGateway();
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: ids }),
        gateway,
        records: overtaking,
        checkpointEvery: 2,
        concurrency: 1,
      }),
    ).resolves.toMatchObject({ outcome: 'skipped' });
    expect(sent.length).toBeLessThan(ids.length);
  });

  it('carries on when its shard record vanishes mid-run (the publishes table emptied), writing it afresh', async () => {
    const { records, shards } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const checkpoints: string[] = [];
    const emptied: PublishRecords = {
      ...records,
      advance: async (id, shard, from, cp, counts) => {
        const made = await records.advance(id, shard, from, cp, counts);
        if (made) checkpoints.push(`${from ?? '-'}>${cp}`);
        // The table is emptied right after the first checkpoint lands.
        if (made && cp === 'c03') shards.clear();
        return made;
      },
    };
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: ids }),
        gateway,
        records: emptied,
        checkpointEvery: 4,
        concurrency: 1,
      }),
    ).resolves.toMatchObject({ outcome: 'done', connections: 10, delivered: 10 });
    expect(sent).toEqual(ids);
    expect(checkpoints).toEqual(['->c03', '->c07', 'c07>c09']);
    expect(shards.get('p/2')).toMatchObject({ done: true, checkpoint: 'c09', connections: 6 });
  });

  it('skips a job whose shard is already done (a duplicate SQS delivery)', async () => {
    const { records } = memoryRecords();
    await records.finish('p', 2);
    const { gateway, sent } = countingGateway();
    await expect(runShardJob(job, { store: shardStore({ 2: ids }), gateway, records })).resolves.toEqual({
      outcome: 'skipped',
      connections: 0,
      delivered: 0,
      gone: 0,
      failed: 0,
    });
    expect(sent).toEqual([]);
  });

  it('acquires a rate token before every delivery', async () => {
    const { records } = memoryRecords();
    const { gateway } = countingGateway();
    let tokens = 0;
    await runShardJob(job, {
      store: shardStore({ 2: ids }),
      gateway,
      records,
      acquire: async () => void tokens++,
    });
    expect(tokens).toBe(10);
  });
});

describe('runShardJob at its deadline', () => {
  const job: ShardJob = { id: 'p', shard: 2, to: { all: true }, payload: 'x' };
  const ids = Array.from({ length: 10 }, (_, i) => `c${String(i).padStart(2, '0')}`);
  const DEADLINE = 60_000;
  const MARGIN = 20_000;
  const STOP = DEADLINE - MARGIN;
  /** What a run reads its clock and deadline from: `clock`, ending at DEADLINE, stopping at STOP. */
  const stopsAt = (clock: { t: number }) => ({
    now: () => clock.t,
    deadline: DEADLINE,
    stopMarginMs: MARGIN,
  });
  /** A delivery held until `release` is called. */
  function held(): { readonly slow: Promise<void>; readonly release: () => void } {
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    return { slow, release };
  }

  /**
   * A gateway on a hand-moved clock: each send records when it started; `at(id, act)` runs `act`
   * inside that connection's send, before it answers.
   */
  function clockedGateway(clock: { t: number }, at: Record<string, () => Promise<void> | void> = {}) {
    const started: { id: string; t: number }[] = [];
    const sent: string[] = [];
    const answeredAt = new Map<string, number>();
    const gateway: Gateway = {
      async send(connectionId) {
        started.push({ id: connectionId, t: clock.t });
        await at[connectionId]?.();
        sent.push(connectionId);
        answeredAt.set(connectionId, clock.t);
      },
      async info() {
        throw new Error('unused');
      },
      async close() {},
    };
    return { gateway, started, sent, answeredAt };
  }

  it('starts no delivery from its stop time on, waits for those in flight, checkpoints them and resolves stopped', async () => {
    const { records, shards } = memoryRecords();
    const clock = { t: 0 };
    const { slow, release: releaseSlow } = held();
    // c01 is still out when the stop comes (during c02's send), and answers only after it.
    const { gateway, started, sent, answeredAt } = clockedGateway(clock, {
      c01: () => slow,
      c02: () => {
        clock.t = STOP;
        releaseSlow();
      },
    });
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: ids }),
        gateway,
        records,
        checkpointEvery: 4,
        concurrency: 3,
        ...stopsAt(clock),
      }),
    ).resolves.toEqual({ outcome: 'stopped', connections: 3, delivered: 3, gone: 0, failed: 0 });
    expect(started.map((s) => s.id)).toEqual(['c00', 'c01', 'c02']);
    expect(started.every((s) => s.t < STOP)).toBe(true);
    // The slow delivery finished after the stop, and the checkpoint covers it.
    expect([...sent].sort()).toEqual(['c00', 'c01', 'c02']);
    expect(answeredAt.get('c01')).toBe(STOP);
    expect(shards.get('p/2')).toEqual({
      done: false,
      checkpoint: 'c02',
      connections: 3,
      delivered: 3,
      gone: 0,
      failed: 0,
    });

    // The continuation (same job) starts from the checkpoint: every connection once in all.
    const next = clockedGateway({ t: 0 });
    await expect(
      runShardJob(job, { store: shardStore({ 2: ids }), gateway: next.gateway, records, concurrency: 3 }),
    ).resolves.toMatchObject({ outcome: 'done', connections: 7 });
    expect([...sent, ...next.sent].sort()).toEqual(ids);
    expect(shards.get('p/2')).toMatchObject({
      done: true,
      checkpoint: 'c09',
      connections: 10,
      delivered: 10,
    });
  });

  it('stops while deliveries wait on the watermark for a slow one, and ends', async () => {
    const { records, shards } = memoryRecords();
    const clock = { t: 0 };
    const { slow, release: releaseSlow } = held();
    // With a window of 2, c02 and c03 wait for the slow c00; the stop comes before it answers.
    const { gateway, started } = clockedGateway(clock, {
      c00: () => slow,
      c01: () => {
        clock.t = STOP;
        releaseSlow();
      },
    });
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: ids }),
        gateway,
        records,
        checkpointEvery: 2,
        concurrency: 4,
        ...stopsAt(clock),
      }),
    ).resolves.toMatchObject({ outcome: 'stopped', connections: 2 });
    expect(started.map((s) => s.id)).toEqual(['c00', 'c01']);
    expect(shards.get('p/2')).toMatchObject({ done: false, checkpoint: 'c01' });
  });

  it.each([
    ['the stop comes during the last delivery', 'c09', 'done', 10],
    ['the stop comes during the first delivery', 'c00', 'stopped', 1],
    ['the stop comes during the fifth delivery', 'c04', 'stopped', 5],
  ])('resolves as it should when %s', async (_, at, outcome, connections) => {
    const { records, shards } = memoryRecords();
    const clock = { t: 0 };
    const { gateway, started } = clockedGateway(clock, {
      [at]: () => {
        clock.t = STOP;
      },
    });
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: ids }),
        gateway,
        records,
        concurrency: 1,
        ...stopsAt(clock),
      }),
    ).resolves.toMatchObject({ outcome, connections });
    expect(started.map((s) => s.id)).toEqual(ids.slice(0, connections));
    expect(shards.get('p/2')).toMatchObject({
      done: outcome === 'done',
      checkpoint: ids[connections - 1],
      connections,
    });
  });

  it('throws unavailable when its stop time came before any delivery finished, and leaves the checkpoint', async () => {
    const { records, shards } = memoryRecords();
    await records.advance('p', 2, undefined, 'c03', { connections: 4, delivered: 4, gone: 0, failed: 0 });
    const clock = { t: STOP };
    const { gateway, started } = clockedGateway(clock);
    await expect(
      runShardJob(job, {
        store: shardStore({ 2: ids }),
        gateway,
        records,
        ...stopsAt(clock),
      }),
    ).rejects.toMatchObject({
      name: 'UnavailableError',
      code: 'unavailable',
      message: 'shard job p shard 2 reached its stop time before any delivery finished',
    });
    expect(started).toEqual([]);
    expect(shards.get('p/2')).toMatchObject({ done: false, checkpoint: 'c03', connections: 4 });
  });

  it('counts each delivery once when a continuation overlaps another run of the same job', async () => {
    const { records, shards } = memoryRecords();
    const store = shardStore({ 2: ids });
    const clock = { t: 0 };
    // Run a stops during c05 and is continued; run b, a second receive of the same message,
    // started from no checkpoint alongside it and runs on with no deadline.
    const a = clockedGateway(clock, {
      c05: () => {
        clock.t = STOP;
      },
    });
    const b = clockedGateway({ t: 0 });
    const deadlined = stopsAt(clock);
    const [first, second] = await Promise.all([
      runShardJob(job, {
        store,
        gateway: a.gateway,
        records,
        checkpointEvery: 3,
        concurrency: 1,
        ...deadlined,
      }),
      runShardJob(job, { store, gateway: b.gateway, records, checkpointEvery: 4, concurrency: 1 }),
    ]);
    const runs = [first, second];
    if (first.outcome === 'stopped') {
      const c = clockedGateway({ t: 0 });
      runs.push(await runShardJob(job, { store, gateway: c.gateway, records, concurrency: 1 }));
    }
    expect(runs.filter((r) => r.outcome === 'done')).toHaveLength(1);
    expect(shards.get('p/2')).toMatchObject({ done: true, connections: 10, delivered: 10 });
  });
});

describe('workerStopMarginMs', () => {
  it.each([
    // attempts × (timeout + 0.5 s grace) + the longest backoff before each retry + rate tokens
    // + LIMITS.workerWrapUpMs (7 s)
    [4, 3_000, 64, 312.5, 14_000 + (50 + 100 + 200) + 820 + 7_000],
    [1, 3_000, 64, 312.5, 3_500 + 0 + 205 + 7_000],
    [4, 10_000, 64, 312.5, 42_000 + 350 + 820 + 7_000],
    // Past the sixth retry each backoff is capped at 2 s.
    [8, 3_000, 64, 312.5, 28_000 + (50 + 100 + 200 + 400 + 800 + 1_600 + 2_000) + 1_639 + 7_000],
    [4, 3_000, 64, 10, 14_000 + 350 + 25_600 + 7_000],
  ])(
    'is %i attempts of %i ms, %i deliveries in flight at %d/s: %i ms',
    (sendAttempts, sendTimeoutMs, concurrency, ratePerSecond, margin) => {
      expect(workerStopMarginMs({ sendAttempts, sendTimeoutMs, concurrency, ratePerSecond })).toBe(margin);
    },
  );
});

describe('TokenBucket', () => {
  it('never lets more than rate × time + burst through', async () => {
    let clock = 0;
    const bucket = new TokenBucket(100, {
      burst: 5,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    for (let i = 0; i < 105; i++) await bucket.acquire();
    // 5 from the burst, then 100 more at 100/s: one second.
    expect(clock).toBeCloseTo(1000, 5);
  });

  it.each([
    [10_000, 16, 625],
    [10_000, 1, 10_000],
    [500, 0, 500],
  ])('splits a budget of %i/s over %i workers into %f/s each', (budget, workers, expected) => {
    expect(perWorkerRate(budget, workers)).toBe(expected);
  });
});

describe('runShardJob on a store that reads its shard page by page', () => {
  const job: ShardJob = { id: 'p', shard: 2, to: { all: true }, payload: 'x' };
  /** 600 connections; the index's order is not the ids' (every id's position is its number's reverse). */
  const ids = Array.from({ length: 600 }, (_, i) => `c${String(i).padStart(3, '0')}`);
  const position = (id: string) => Number([...id.slice(1)].reverse().join(''));
  const indexOrder = [...ids].sort((a, b) => position(a) - position(b));

  /**
   * A store whose pages follow `indexOrder` from just past `after`'s position, whether or not
   * `after` is still in the shard; it records each read, and fails the one `failAt` names.
   */
  function pagedStore(live: readonly string[] = ids, failAt?: number) {
    const reads: { after: string | undefined; limit: number }[] = [];
    let whole = 0;
    const ordered = [...live].sort((a, b) => position(a) - position(b));
    const store = emptyStore({
      readShard: async () => {
        whole++;
        return { targets: live.map((connectionId) => ({ connectionId, uid: 'u' })), complete: true };
      },
      readShardPage: async (_to, _shard, _now, after, limit) => {
        reads.push({ after, limit });
        if (reads.length === failAt) throw new UnavailableError('DynamoDB down');
        const from = after === undefined ? 0 : ordered.findIndex((id) => position(id) > position(after));
        const page = from === -1 ? [] : ordered.slice(from, from + limit);
        const more = from !== -1 && from + limit < ordered.length;
        return {
          targets: page.map((connectionId) => ({ connectionId, uid: 'u' })),
          ...(more ? { next: page.at(-1) as string } : {}),
        };
      },
    });
    return { store, reads, wholeReads: () => whole };
  }

  it('delivers in the index order while it reads, a first small page then larger ones, and checkpoints positions in it', async () => {
    const { records, shards } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const { store, reads, wholeReads } = pagedStore();
    await expect(
      runShardJob(job, { store, gateway, records, checkpointEvery: 100, concurrency: 1 }),
    ).resolves.toEqual({ outcome: 'done', connections: 600, delivered: 600, gone: 0, failed: 0 });
    expect(sent).toEqual(indexOrder);
    expect(reads).toEqual([
      { after: undefined, limit: 250 },
      { after: indexOrder[249], limit: 1_000 },
    ]);
    expect(wholeReads()).toBe(0);
    expect(shards.get('p/2')).toMatchObject({ done: true, checkpoint: INDEX_ORDER + indexOrder[599] });
  });

  it('resumes after its checkpoint by position, even when that connection has gone since', async () => {
    const { records, shards } = memoryRecords();
    const at = indexOrder[299] as string;
    await records.advance('p', 2, undefined, INDEX_ORDER + at, {
      connections: 300,
      delivered: 300,
      gone: 0,
      failed: 0,
    });
    const { gateway, sent } = countingGateway();
    const { store, reads } = pagedStore(ids.filter((id) => id !== at));
    await expect(
      runShardJob(job, { store, gateway, records, checkpointEvery: 100, concurrency: 4 }),
    ).resolves.toMatchObject({ outcome: 'done', connections: 300, delivered: 300 });
    expect(reads[0]?.after).toBe(at);
    expect([...sent].sort()).toEqual(indexOrder.slice(300).sort());
    expect(shards.get('p/2')).toMatchObject({ done: true, connections: 600, delivered: 600 });
  });

  it('goes on from a checkpoint taken in id order by reading the shard whole and sorting it', async () => {
    const { records } = memoryRecords();
    await records.advance('p', 2, undefined, 'c299', {
      connections: 300,
      delivered: 300,
      gone: 0,
      failed: 0,
    });
    const { gateway, sent } = countingGateway();
    const { store, reads, wholeReads } = pagedStore();
    await expect(
      runShardJob(job, { store, gateway, records, checkpointEvery: 100, concurrency: 1 }),
    ).resolves.toMatchObject({ outcome: 'done', connections: 300 });
    expect(sent).toEqual(ids.slice(300));
    expect(reads).toEqual([]);
    expect(wholeReads()).toBe(1);
  });

  it('fails the run when a later page cannot be read; the retry resumes at its checkpoint', async () => {
    const { records, shards } = memoryRecords();
    const first = countingGateway();
    await expect(
      runShardJob(job, {
        store: pagedStore(ids, 2).store,
        gateway: first.gateway,
        records,
        checkpointEvery: 100,
        concurrency: 1,
      }),
    ).rejects.toThrow(UnavailableError);
    // The reader reads ahead at once, so the run fails early: what it delivered before is in order,
    // and its checkpoint (if it wrote one) is a position in the index.
    expect(first.sent).toEqual(indexOrder.slice(0, first.sent.length));
    const checkpoint = shards.get('p/2')?.checkpoint;
    expect(checkpoint === undefined || checkpoint.startsWith(INDEX_ORDER)).toBe(true);
    const done = checkpoint === undefined ? 0 : indexOrder.indexOf(checkpoint.slice(INDEX_ORDER.length)) + 1;
    expect(done).toBeLessThanOrEqual(first.sent.length);

    const second = countingGateway();
    await expect(
      runShardJob(job, {
        store: pagedStore().store,
        gateway: second.gateway,
        records,
        checkpointEvery: 100,
        concurrency: 1,
      }),
    ).resolves.toMatchObject({ outcome: 'done' });
    expect(second.sent).toEqual(indexOrder.slice(done));
    expect(shards.get('p/2')).toMatchObject({ done: true, connections: 600, delivered: 600 });
  });

  it('stops at its stop time while its deliveries wait for a page that has not come, without waiting for it', async () => {
    const { records, shards } = memoryRecords();
    const { gateway, sent } = countingGateway();
    const { store, reads } = pagedStore();
    // The second page never comes; the stop time is 50 ms away on the real clock.
    const hung = emptyStore({
      readShardPage: (to, shard, now, after, limit) =>
        after === undefined
          ? (store.readShardPage?.(to, shard, now, after, limit) as never)
          : new Promise(() => {}),
    });
    const started = Date.now();
    await expect(
      runShardJob(job, {
        store: hung,
        gateway,
        records,
        checkpointEvery: 100,
        deadline: started + 1_050,
        stopMarginMs: 1_000,
      }),
    ).resolves.toMatchObject({ outcome: 'stopped', connections: 250 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(reads).toHaveLength(1);
    expect(sent).toHaveLength(250);
    expect(shards.get('p/2')).toMatchObject({ done: false, checkpoint: INDEX_ORDER + indexOrder[249] });
  });

  it('stops at its stop time with pages left unread, and its continuation delivers the rest once', async () => {
    const { records, shards } = memoryRecords();
    const clock = { t: 0 };
    const sent: string[] = [];
    const gateway: Gateway = {
      async send(connectionId) {
        sent.push(connectionId);
        if (sent.length === 150) clock.t = 10_000;
      },
      async info() {
        throw new Error('unused');
      },
      async close() {},
    };
    const { store, reads } = pagedStore();
    await expect(
      runShardJob(job, {
        store,
        gateway,
        records,
        checkpointEvery: 100,
        concurrency: 1,
        now: () => clock.t,
        deadline: 11_000,
        stopMarginMs: 1_000,
      }),
    ).resolves.toMatchObject({ outcome: 'stopped', connections: 150 });
    expect(reads.length).toBeLessThanOrEqual(2);
    expect(shards.get('p/2')).toMatchObject({ done: false, checkpoint: INDEX_ORDER + indexOrder[149] });

    const next = countingGateway();
    await expect(
      runShardJob(job, { store: pagedStore().store, gateway: next.gateway, records, checkpointEvery: 100 }),
    ).resolves.toMatchObject({ outcome: 'done', connections: 450 });
    expect([...sent, ...next.sent].sort()).toEqual(ids);
  });
});
