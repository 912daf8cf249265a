/**
 * CPU time of the publish handler, measured inside its own process (the stack's `processes`
 * option), for the cost model and for sizing: Lambda gives a function CPU in proportion to its
 * memory (one vCPU at 1,769 MB), so the CPU part of a duration grows as the memory shrinks while
 * the waiting part does not. Wall-clock durations measured in-process cannot tell the two apart.
 *
 * Three probes, each after warm-up rounds, with 25 ms of `@connections` latency:
 * - a uid push to one connection (the cost goal's unit);
 * - a batch publish of {@link BATCH_PUSHES} uid pushes, each to its own uid with one connection
 *   (the cost model's batched case);
 * - an inline topic fan-out below the shard threshold, per delivery (what the threshold sizes).
 */
import { LIMITS } from '../../lambdas/shared/limits';
import { type LocalStack, startLocalStack } from '../../local/stack';
import { virtualConnections } from '../../test/support/virtual';
import type { Progress } from './progress';
import { BATCH_PUSHES, expectUidBatchDelivered, postPublish, uidBatch } from './stack-features';
import { round } from './stats';

/** What the probes measured, in ms of CPU (user + system) inside the publish handler's process. */
export interface PublishCpu {
  /** Per uid push to one connection. */
  readonly perPushMs: number;
  /** Per batch publish of `batchSize` uid pushes, each to its own uid with one connection. */
  readonly perBatchMs: number;
  /** Per delivery of an inline topic fan-out to `fanOutConnections`. */
  readonly perFanOutDeliveryMs: number;
  readonly pushes: number;
  readonly batches: number;
  readonly batchSize: number;
  readonly fanOutConnections: number;
}

async function publishOk(stack: LocalStack, body: unknown): Promise<Record<string, unknown>> {
  const { status, body: result } = await postPublish(stack, body);
  if (status !== 200 || result.failed !== 0) {
    throw new Error(`cpu probe publish answered ${status}: ${JSON.stringify(result)}`);
  }
  return result;
}

function cpuMs(stack: LocalStack): number {
  const stats = stack.processStats('publish');
  if (stats === undefined) throw new Error('the publish handler is not running in a process');
  return stats.cpuMs;
}

/**
 * Runs the probes on a fresh stack with the publish handler in one process.
 *
 * @example
 * const cpu = await measurePublishCpu(false, progress); // { perPushMs: 7.6, perBatchMs: 40, perFanOutDeliveryMs: 0.5, ... }
 */
export async function measurePublishCpu(quick: boolean, progress: Progress): Promise<PublishCpu> {
  const pushes = quick ? 50 : 300;
  const warmup = quick ? 20 : 100;
  const batches = quick ? 20 : 100;
  const batchWarmup = quick ? 5 : 20;
  const fanOutConnections = quick ? 200 : 1_000;
  const fanOutRounds = quick ? 2 : 5;
  progress.note(
    `CPU probes: publish handler in its own process; ${pushes} uid pushes, ${batches} batches of ${BATCH_PUSHES} uid pushes, ${fanOutRounds} inline fan-outs to ${fanOutConnections}`,
  );
  const stack = await startLocalStack({ port: 0, processes: { publish: 1 }, managementLatencyMs: 25 });
  try {
    await virtualConnections(stack).add(1, { uid: () => 'cpu-probe' });
    /** Runs `run` `warm` times unrecorded, then `runs` times; the publish process's CPU per run. */
    const cpuPerRun = async (
      label: string,
      warm: number,
      runs: number,
      run: (i: number) => Promise<unknown>,
    ) => {
      for (let i = 0; i < warm; i++) await run(i);
      const start = cpuMs(stack);
      for (let i = 0; i < runs; i++) {
        await run(warm + i);
        progress.tick(label, i + 1, runs);
      }
      return (cpuMs(stack) - start) / runs;
    };
    const perPushMs = await cpuPerRun('cpu probe pushes', warmup, pushes, (i) =>
      publishOk(stack, { to: { uid: 'cpu-probe' }, data: { i }, id: `cpu-${i}` }),
    );

    const batchUids = Array.from({ length: BATCH_PUSHES }, (_, k) => `cpu-batch-${k}`);
    const batchIds = await virtualConnections(stack).add(BATCH_PUSHES, {
      uid: (k) => batchUids[k] ?? '',
    });
    const batch = async (b: number) => {
      const body = uidBatch(batchUids, `cpu-batch-${b}`, { b });
      expectUidBatchDelivered(
        await postPublish(stack, body),
        body.batch.map((item) => item.id),
      );
    };
    const perBatchMs = await cpuPerRun('cpu probe batches', batchWarmup, batches, batch);
    // Counted at the connections, not taken from the answers: each got exactly one post per batch.
    const short = batchIds.filter(
      (id) => virtualConnections(stack).deliveriesTo(id) !== batchWarmup + batches,
    );
    if (short.length > 0) {
      throw new Error(
        `cpu probe batches: ${short.length} of ${BATCH_PUSHES} connections did not get exactly ${batchWarmup + batches} posts`,
      );
    }

    if (fanOutConnections > LIMITS.shardThreshold) throw new Error('the fan-out probe must stay inline');
    await virtualConnections(stack).add(fanOutConnections, { topics: ['cpu-probe-topic'] });
    // One unrecorded round warms the fan-out path.
    const perFanOutMs = await cpuPerRun('cpu probe fan-outs', 1, fanOutRounds, async (r) => {
      const result = await publishOk(stack, {
        to: { topic: 'cpu-probe-topic' },
        data: r,
        id: `cpu-fan-${r}`,
      });
      if (result.delivered !== fanOutConnections) {
        throw new Error(`cpu probe fan-out delivered ${String(result.delivered)} of ${fanOutConnections}`);
      }
    });
    const perFanOutDeliveryMs = perFanOutMs / fanOutConnections;
    return {
      perPushMs: round(perPushMs, 3),
      perBatchMs: round(perBatchMs, 3),
      perFanOutDeliveryMs: round(perFanOutDeliveryMs, 4),
      pushes,
      batches,
      batchSize: BATCH_PUSHES,
      fanOutConnections,
    };
  } finally {
    await stack.stop();
  }
}
