/**
 * CPU time of the publish handler, measured inside its own process (the stack's `processes`
 * option), for the cost model and for sizing: Lambda gives a function CPU in proportion to its
 * memory (one vCPU at 1,769 MB), so the CPU part of a duration grows as the memory shrinks while
 * the waiting part does not. Wall-clock durations measured in-process cannot tell the two apart.
 *
 * Two probes, each after warm-up rounds, with 25 ms of `@connections` latency:
 * - a uid push to one connection (the cost goal's unit);
 * - an inline topic fan-out below the shard threshold, per delivery (what the threshold sizes).
 */
import { LIMITS } from '../../lambdas/shared/names';
import { type LocalStack, startLocalStack } from '../../local/stack';
import type { Progress } from './progress';
import { postPublish } from './stack-features';
import { round } from './stats';

/** What the probes measured, in ms of CPU (user + system) inside the publish handler's process. */
export interface PublishCpu {
  /** Per uid push to one connection. */
  readonly perPushMs: number;
  /** Per delivery of an inline topic fan-out to `fanOutConnections`. */
  readonly perFanOutDeliveryMs: number;
  readonly pushes: number;
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
 * Runs both probes on a fresh stack with the publish handler in one process.
 *
 * @example
 * const cpu = await measurePublishCpu(false, progress); // { perPushMs: 1.9, perFanOutDeliveryMs: 0.42, ... }
 */
export async function measurePublishCpu(quick: boolean, progress: Progress): Promise<PublishCpu> {
  const pushes = quick ? 50 : 300;
  const warmup = quick ? 20 : 100;
  const fanOutConnections = quick ? 200 : 1_000;
  const fanOutRounds = quick ? 2 : 5;
  progress.note(
    `CPU probes: publish handler in its own process; ${pushes} uid pushes, ${fanOutRounds} inline fan-outs to ${fanOutConnections}`,
  );
  const stack = await startLocalStack({ port: 0, processes: { publish: 1 }, managementLatencyMs: 25 });
  try {
    await stack.emulator.addVirtualConnections(1, { uid: () => 'cpu-probe' });
    const push = (i: number) => publishOk(stack, { to: { uid: 'cpu-probe' }, data: { i }, id: `cpu-${i}` });
    for (let i = 0; i < warmup; i++) await push(i);
    const pushStart = cpuMs(stack);
    for (let i = warmup; i < warmup + pushes; i++) {
      await push(i);
      progress.tick('cpu probe pushes', i + 1 - warmup, pushes);
    }
    const perPushMs = (cpuMs(stack) - pushStart) / pushes;

    if (fanOutConnections > LIMITS.shardThreshold) throw new Error('the fan-out probe must stay inline');
    await stack.emulator.addVirtualConnections(fanOutConnections, { topics: ['cpu-probe-topic'] });
    // One unrecorded round warms the fan-out path.
    await publishOk(stack, { to: { topic: 'cpu-probe-topic' }, data: 0, id: 'cpu-fan-warm' });
    const fanStart = cpuMs(stack);
    for (let r = 0; r < fanOutRounds; r++) {
      const result = await publishOk(stack, {
        to: { topic: 'cpu-probe-topic' },
        data: r,
        id: `cpu-fan-${r}`,
      });
      if (result.delivered !== fanOutConnections) {
        throw new Error(`cpu probe fan-out delivered ${String(result.delivered)} of ${fanOutConnections}`);
      }
      progress.tick('cpu probe fan-outs', r + 1, fanOutRounds);
    }
    const perFanOutDeliveryMs = (cpuMs(stack) - fanStart) / (fanOutRounds * fanOutConnections);
    return {
      perPushMs: round(perPushMs, 3),
      perFanOutDeliveryMs: round(perFanOutDeliveryMs, 4),
      pushes,
      fanOutConnections,
    };
  } finally {
    await stack.stop();
  }
}
