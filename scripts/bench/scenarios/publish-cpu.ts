/**
 * Scenario p: the publish handler's CPU per uid push, against a floor measured in the same run.
 *
 * Ours is measured inside the handler's own process (cpu-probes.ts: the stack's `processes`
 * option), with 25 ms on every `@connections` call. The floor is the very requests one such push
 * sent, recorded on the wire from an in-process stack (http-recorder.ts) and replayed as bare
 * SigV4-signed HTTP calls on a keep-alive agent in a process of their own (signed-floor.ts): the
 * CPU any client needs to make those calls at all. The ratio is what the SDK clients and the
 * handler's own work add.
 *
 * The scenario also takes the handlers' billed durations that docs/cost.md prices (publish at
 * 25 ms, a batch of {@link BATCH_PUSHES} uid pushes, ping, authorizer, `$connect`, `$disconnect`).
 */
import type { WebSocket } from 'ws';
import { secretKey, signToken } from '../../../lambdas/core/token';
import { type LocalStack, startLocalStack } from '../../../local/stack';
import { virtualConnections } from '../../../test/support/virtual';
import { measurePublishCpu } from '../cpu-probes';
import { ms, times } from '../format';
import { HttpRecorder } from '../http-recorder';
import type { Progress } from '../progress';
import { measureSignedFloor } from '../signed-floor';
import { openSocket } from '../sockets';
import { BATCH_PUSHES, expectUidBatchDelivered, postPublish, uidBatch } from '../stack-features';
import { median, round } from '../stats';
import type { Scenario } from '../types';

const UID = 'cpu-probe';

export const publishCpuScenario: Scenario = async ({ quick, progress }) => {
  const cpu = await measurePublishCpu(quick, progress);
  const stack = await startLocalStack({ port: 0 });
  const recorder = new HttpRecorder();
  try {
    await virtualConnections(stack).add(1, { uid: () => UID });
    const publish = async (i: number) => {
      const { status, body } = await postPublish(stack, { to: { uid: UID }, data: { i }, id: `cpu-${i}` });
      if (status !== 200 || body.delivered !== 1)
        throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
    };
    for (let i = 0; i < 5; i++) await publish(i);
    recorder.start();
    recorder.take();
    await publish(5);
    const calls = recorder.take().filter((c) => c.kind !== 'other');
    recorder.stop();
    if (!calls.some((c) => c.kind === 'post')) throw new Error('the recorded push made no @connections post');
    progress.note(
      `signed floor: the push's ${calls.length} calls (${calls.map((c) => c.operation).join(', ')}) replayed ${cpu.pushes} times`,
    );
    const floor = await measureSignedFloor(calls, { warmup: quick ? 20 : 100, rounds: cpu.pushes });
    const token = await signToken({ uid: 'latency-0' }, secretKey(stack.tokenSecret));
    const socket = await openSocket(stack.wsUrl, token);
    const durations = await costProbes(stack, socket, quick, progress);
    socket.terminate();
    const ratio = cpu.perPushMs / floor.perRoundMs;
    return {
      id: 'p',
      title: 'publish handler CPU per uid push',
      target: '≤ 2× the floor',
      ours: `${ms(cpu.perPushMs)} CPU per push (${cpu.pushes} pushes)`,
      baseline: `the same ${calls.length} requests as bare signed calls: ${ms(floor.perRoundMs)}`,
      ratio: times(ratio),
      verdict: ratio <= 2 ? 'pass' : 'fail',
      path: 'publish handler in its own process (user + system CPU), 25 ms per @connections call; floor: SigV4 (@smithy/signature-v4) + node:http keep-alive in its own process',
      notes: [
        `floor requests, recorded from one push on the wire: ${calls.map((c) => c.operation).join(', ')}; answers ${JSON.stringify(floor.statuses)} (a replayed conditional write answers 400, as in AWS)`,
        `batch publish of ${BATCH_PUSHES} uid pushes (one connection each): ${ms(cpu.perBatchMs)} CPU per batch (${cpu.batches} batches); inline fan-out to ${cpu.fanOutConnections.toLocaleString('en-US')}: ${ms(cpu.perFanOutDeliveryMs)} CPU per delivery`,
        `handler durations for docs/cost.md (median, in-process, dynalite): publish to 1 connection with 25 ms @connections latency ${ms(durations.publishAt25ms)}, a batch of ${BATCH_PUSHES} ${ms(durations.publishBatchAt25ms)}, ping ${ms(durations.ping)}, authorizer ${ms(durations.authorizer)}, $connect ${ms(durations.connect)}, $disconnect ${ms(durations.disconnect)}`,
        'Lambda scales CPU with memory, so these CPU figures grow at smaller sizes (docs/cost.md)',
      ],
      data: {
        publishCpu: cpu,
        floor,
        ratio: round(ratio),
        recorded: calls.map((c) => c.operation),
        handlerDurationsMs: durations,
      },
    };
  } finally {
    recorder.stop();
    await stack.stop();
  }
};

/** Median handler durations, in ms: the inputs docs/cost.md prices. */
export interface HandlerDurations {
  readonly publishAt25ms: number;
  /** One batch publish of {@link BATCH_PUSHES} uid pushes, each to its own uid with one connection. */
  readonly publishBatchAt25ms: number;
  readonly ping: number;
  readonly authorizer: number;
  readonly connect: number;
  readonly disconnect: number;
}

/**
 * Durations of each handler as Lambda would bill them (the invocation's own time, as the local
 * functions measure it): uid pushes and batches of them to virtual connections with the
 * Management API's 25 ms round trip switched on (each answer must say every item was delivered
 * once), idle pings on a real socket, and connect/disconnect cycles of real sockets.
 */
async function costProbes(
  stack: LocalStack,
  socket: WebSocket,
  quick: boolean,
  progress: Progress,
): Promise<HandlerDurations> {
  const rounds = quick ? 20 : 100;
  const cycles = quick ? 5 : 20;
  const batchUids = Array.from({ length: BATCH_PUSHES }, (_, k) => `cost-batch-${k}`);
  await virtualConnections(stack).add(BATCH_PUSHES, { uid: (k) => batchUids[k] ?? '' });
  const seen: Record<string, number[]> = {};
  const stop = stack.emulator.onInvoke((record) => {
    const list = seen[record.functionName] ?? [];
    list.push(record.durationMs);
    seen[record.functionName] = list;
  });
  /** Runs `run` `rounds` times and gives the median duration of `name`'s invocations it caused. */
  const medianOf = async (name: string, run: (i: number) => Promise<unknown>) => {
    const before = seen[name]?.length ?? 0;
    for (let i = 0; i < rounds; i++) await run(i);
    return round(median((seen[name] ?? []).slice(before)), 2);
  };
  try {
    progress.note(
      `cost probes: ${rounds} pushes, batches of ${BATCH_PUSHES} and pings, ${cycles} connect/disconnect cycles`,
    );
    stack.emulator.managementLatencyMs = 25;
    const publishAt25ms = await medianOf('publish', async (i) => {
      const { status, body } = await postPublish(stack, { to: { uid: UID }, data: { i }, id: `cost-${i}` });
      if (status !== 200 || body.delivered !== 1)
        throw new Error(`publish answered ${status}: ${JSON.stringify(body)}`);
    });
    const publishBatchAt25ms = await medianOf('publish', async (b) => {
      const body = uidBatch(batchUids, `cost-batch-${b}`, { b });
      expectUidBatchDelivered(
        await postPublish(stack, body),
        body.batch.map((item) => item.id),
      );
    });
    stack.emulator.managementLatencyMs = 0;
    const ping = await medianOf('default', async () => {
      // A pong carries no id; one ping is in flight at a time, so the next pong is its answer.
      const pong = new Promise<void>((resolve) => {
        const onMessage = (data: Buffer) => {
          if (!data.toString('utf8').includes('"pong"')) return;
          socket.off('message', onMessage);
          resolve();
        };
        socket.on('message', onMessage);
      });
      socket.send(JSON.stringify({ action: 'ping' }));
      await pong;
    });
    const key = secretKey(stack.tokenSecret);
    for (let i = 0; i < cycles; i++) {
      const ws = await openSocket(stack.wsUrl, await signToken({ uid: `cost-cycle-${i}` }, key));
      const disconnected = new Promise<void>((resolve) => {
        const off = stack.emulator.onInvoke((record) => {
          if (record.functionName !== 'disconnect') return;
          off();
          resolve();
        });
      });
      ws.close();
      await disconnected;
    }
    const last = (name: string) => round(median((seen[name] ?? []).slice(-cycles)), 2);
    return {
      publishAt25ms,
      publishBatchAt25ms,
      ping,
      authorizer: last('authorizer'),
      connect: last('connect'),
      disconnect: last('disconnect'),
    };
  } finally {
    stack.emulator.managementLatencyMs = 0;
    stop();
  }
}
