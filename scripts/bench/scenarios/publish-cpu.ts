/**
 * Scenario p: the publish handler's CPU per uid push, measured inside its own process (Lambda gives
 * CPU in proportion to memory, so the CPU part of a duration grows as memory shrinks while the
 * waiting does not; wall-clock time cannot tell the two apart). The floor is the very requests one
 * push sent, recorded on the wire (http-recorder.ts) and replayed as bare SigV4-signed calls by a
 * function of their own, in a process forked and invoked once per round as the handler's is once
 * per push (signed-floor.ts): what the handlers' clients and the handler add is the ratio.
 * It also takes the CPU of a batch and of an inline fan-out, and the durations docs/cost.md prices.
 */
import { once } from 'node:events';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { WebSocket } from 'ws';
import type { LogLevel } from '../../../infra/push-function';
import { LIMITS } from '../../../lambdas/shared/limits';
import { type LocalStack, startLocalStack } from '../../../local/stack';
import { virtualConnections } from '../../../test/support/virtual';
import { HttpRecorder } from '../http-recorder';
import {
  FAKE_CREDENTIALS,
  int,
  median,
  ms,
  type Progress,
  postPublish,
  pushUid,
  round,
  type Scenario,
  socketFor,
  times,
} from '../kit';
import { type ReplayVia, type SignedFloor, startSignedFloor } from '../signed-floor';

const UID = 'cpu-probe';
/** uid pushes per batch publish in the cost model's batched case, each uid with one connection. */
const BATCH_PUSHES = 10;

/**
 * Adds {@link BATCH_PUSHES} virtual connections, one per uid, and a function that sends them batch
 * `b` and checks each item was delivered once, so a batch that broke cannot pass for a fast one.
 */
async function batchPusher(stack: LocalStack, prefix: string) {
  const uids = Array.from({ length: BATCH_PUSHES }, (_, k) => `${prefix}-${k}`);
  const ids = await virtualConnections(stack).add(BATCH_PUSHES, { uid: (k) => uids[k] ?? '' });
  const push = async (b: number) => {
    const batch = uids.map((uid, k) => ({ to: { uid }, data: { b }, id: `${prefix}-${b}-${k}` }));
    const { status, body } = await postPublish(stack, { batch });
    const results = body.results as Record<string, unknown>[] | undefined;
    const fine =
      status === 200 &&
      results?.length === batch.length &&
      results.every((r, k) => r.id === batch[k]?.id && r.delivered === 1 && r.gone === 0 && r.failed === 0);
    if (!fine) throw new Error(`batch publish answered ${status}: ${JSON.stringify(body).slice(0, 500)}`);
  };
  return { ids, push };
}

const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);

/** Warm-up and windows of the uid-push CPU probe: full run, and `--quick`. */
const PUSH_WINDOWS = {
  full: { warmup: 500, windows: 7, pushes: 100 },
  quick: { warmup: 20, windows: 3, pushes: 20 },
} as const;

/**
 * CPU (user + system, ms) inside the publish handler's process, with 25 ms per post: a uid push
 * (the cost goal's unit) against the signed floor, a batch, and an inline fan-out per delivery
 * (what sizes the shard threshold). A warm Lambda container serves thousands of invocations, so
 * both processes are first warmed alike (the JIT's work on the first few hundred calls is paid
 * once per container, not per push); then in each window a uid push and a floor round take turns,
 * so a change in the machine's load falls on both and each process idles as long as the other
 * works, and each window gives a ratio.
 */
async function measurePublishCpu(quick: boolean, progress: Progress, floor: SignedFloor) {
  const plan = quick ? PUSH_WINDOWS.quick : PUSH_WINDOWS.full;
  const [batches, batchWarmup] = quick ? [20, 5] : [100, 20];
  const [fanOutConnections, fanOutRounds] = quick ? [200, 2] : [1_000, 5];
  progress.note(
    `CPU probes: publish handler in its own process; ${plan.warmup} warm-up uid pushes (and floor rounds), then ${plan.windows} windows of ${plan.pushes} pushes, each followed by a floor round; ${batches} batches of ${BATCH_PUSHES} uid pushes, ${fanOutRounds} inline fan-outs to ${fanOutConnections}`,
  );
  const stack = await startLocalStack({
    port: 0,
    processes: { publish: 1 },
    managementLatencyMs: 25,
    // As `npm start` runs it, and as the floor's stack is started (recordedFloor).
    dynaliteProcess: true,
  });
  const cpuMs = () => {
    const stats = stack.processStats('publish');
    if (stats === undefined) throw new Error('the publish handler is not running in a process');
    return stats.cpuMs;
  };
  /** Runs `run` `warm` times unrecorded, then `runs` times; the publish process's CPU per run. */
  const cpuPerRun = async (label: string, warm: number, runs: number, run: (i: number) => Promise<void>) => {
    for (let i = 0; i < warm; i++) await run(i);
    const start = cpuMs();
    for (let i = 0; i < runs; i++) {
      await run(warm + i);
      progress.tick(label, i + 1, runs);
    }
    return (cpuMs() - start) / runs;
  };
  const virtual = virtualConnections(stack);
  try {
    await virtual.add(1, { uid: () => UID });
    let pushed = 0;
    const push = () => pushUid(stack, UID, `cpu-${pushed}`, { i: pushed++ });
    // The floor's other kinds of rounds are warmed first (so the floor's process runs its signing
    // code 1,500 times in the warm-up to the handler's 500), so that no long idle of the handler's
    // process falls between its warm-up and its first window: both warm up taking turns, as they
    // are measured.
    await floor.run(plan.warmup, 'clients');
    await floor.run(plan.warmup, 'bare', 'loop');
    for (let i = 0; i < plan.warmup; i++) {
      await push();
      await floor.run(1);
      progress.tick('cpu probe warm-up (a push and a floor round in turn)', i + 1, plan.warmup);
    }
    const statuses: Record<string, number> = {};
    const sdkStatuses: Record<string, number> = {};
    const loopStatuses: Record<string, number> = {};
    const tally = (into: Record<string, number>, from: Readonly<Record<string, number>>) => {
      for (const [status, n] of Object.entries(from)) into[status] = (into[status] ?? 0) + n;
    };
    // Pushes and floor rounds take turns one by one, so each process idles while the other works
    // and for as long: the CPU a process spends waking from idle (and what its heap does while
    // idle) then falls alike on both sides, as it does not when one side idles through several of
    // the other's windows. One window: CPU per push, and per round of `via`, whose answers go to `into`.
    const inTurns = async (via: ReplayVia, into: Record<string, number>) => {
      let oursMs = 0;
      let floorMs = 0;
      for (let i = 0; i < plan.pushes; i++) {
        const start = cpuMs();
        await push();
        oursMs += cpuMs() - start;
        const round = await floor.run(1, via);
        floorMs += round.perRoundMs;
        tally(into, round.statuses);
      }
      return { oursMs: oursMs / plan.pushes, floorMs: floorMs / plan.pushes };
    };
    const windows: { oursMs: number; floorMs: number; ratio: number }[] = [];
    for (let w = 0; w < plan.windows; w++) {
      const { oursMs, floorMs } = await inTurns('bare', statuses);
      windows.push({ oursMs, floorMs, ratio: oursMs / floorMs });
      progress.tick('cpu probe windows (a push and a floor round in turn)', w + 1, plan.windows);
    }
    // Where the ratio goes: windows on the same schedule in which a push and a round of the same
    // requests through the handlers' clients (without the handler) take turns, so the clients'
    // rounds idle as the floor's do; after each, the bare floor sent back to back in one invocation.
    const splits: { oursMs: number; sdkMs: number; loopMs: number }[] = [];
    for (let w = 0; w < plan.windows; w++) {
      const { oursMs, floorMs: sdkMs } = await inTurns('clients', sdkStatuses);
      const loop = await floor.run(plan.pushes, 'bare', 'loop');
      tally(loopStatuses, loop.statuses);
      splits.push({ oursMs, sdkMs, loopMs: loop.perRoundMs });
      progress.tick(
        'cpu probe splits (a push and a clients round in turn; the floor in a loop)',
        w + 1,
        plan.windows,
      );
    }
    const batch = await batchPusher(stack, 'cpu-batch');
    const perBatchMs = await cpuPerRun('cpu probe batches', batchWarmup, batches, batch.push);
    // Counted at the connections, not taken from the answers: each got exactly one post per batch.
    const short = batch.ids.filter((id) => virtual.deliveriesTo(id) !== batchWarmup + batches);
    if (short.length > 0) throw new Error(`cpu probe: ${short.length} connections missed a batch`);
    if (fanOutConnections > LIMITS.shardThreshold) throw new Error('the fan-out probe must stay inline');
    await virtual.add(fanOutConnections, { topics: ['cpu-probe-topic'] });
    const perFanOutMs = await cpuPerRun('cpu probe fan-outs', 1, fanOutRounds, async (r) => {
      const fanOut = { to: { topic: 'cpu-probe-topic' }, data: r, id: `cpu-fan-${r}` };
      const { status, body } = await postPublish(stack, fanOut);
      if (status !== 200 || body.delivered !== fanOutConnections) {
        throw new Error(`cpu probe fan-out answered ${status}: ${JSON.stringify(body)}`);
      }
    });
    return {
      perPushMs: round(median(windows.map((w) => w.oursMs)), 3),
      floorPerPushMs: round(median(windows.map((w) => w.floorMs)), 3),
      ratio: round(median(windows.map((w) => w.ratio)), 3),
      // Every window together: a cost that lands in one window now and then (a full collection)
      // is in this figure, where the median leaves it out.
      allWindowsRatio: round(sum(windows.map((w) => w.oursMs)) / sum(windows.map((w) => w.floorMs)), 3),
      windows: windows.map((w) => ({
        oursMs: round(w.oursMs, 3),
        floorMs: round(w.floorMs, 3),
        ratio: round(w.ratio, 3),
      })),
      floorStatuses: statuses,
      // The same requests through the handlers' own clients, without the handler, on the measured
      // windows' schedule: how the ratio splits between the clients' per-call work and everything
      // else in the handler's process.
      sdkPerRoundMs: round(median(splits.map((w) => w.sdkMs)), 3),
      sdkOverFloor: round(median(splits.map((w) => w.sdkMs)) / median(windows.map((w) => w.floorMs)), 3),
      oursOverSdk: round(median(splits.map((w) => w.oursMs / w.sdkMs)), 3),
      // The bare floor sent back to back in one invocation: what the ratio was judged against
      // before the floor was invoked once per round as a push is.
      loopPerRoundMs: round(median(splits.map((w) => w.loopMs)), 3),
      invocationsOverLoop: round(
        median(windows.map((w) => w.floorMs)) / median(splits.map((w) => w.loopMs)),
        3,
      ),
      loopStatuses,
      sdkStatuses,
      warmup: plan.warmup,
      pushes: plan.pushes,
      perBatchMs: round(perBatchMs, 3),
      perFanOutDeliveryMs: round(perFanOutMs / fanOutConnections, 4),
      batches,
      batchSize: BATCH_PUSHES,
      fanOutConnections,
    };
  } finally {
    await stack.stop();
  }
}

/**
 * Median billed durations (the invocation's own time) that docs/cost.md prices: uid pushes and
 * batches with 25 ms per post, idle pings, and connect/disconnect cycles of real sockets.
 */
async function handlerDurations(stack: LocalStack, socket: WebSocket, quick: boolean, progress: Progress) {
  const [rounds, cycles] = quick ? [20, 5] : [100, 20];
  const batch = await batchPusher(stack, 'cost-batch');
  const seen: Record<string, number[]> = {};
  const stop = stack.emulator.onInvoke((record) => {
    seen[record.functionName] ??= [];
    seen[record.functionName]?.push(record.durationMs);
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
    const publishAt25ms = await medianOf('publish', (i) => pushUid(stack, UID, `cost-${i}`, { i }));
    const publishBatchAt25ms = await medianOf('publish', batch.push);
    stack.emulator.managementLatencyMs = 0;
    const ping = await medianOf('default', async () => {
      socket.send(JSON.stringify({ action: 'ping' }));
      // A pong carries no id; one ping is in flight at a time, so the next pong is its answer.
      let frame = '';
      while (!frame.includes('"pong"')) frame = String((await once(socket, 'message'))[0]);
    });
    for (let i = 0; i < cycles; i++) {
      const ws = await socketFor(stack, `cost-cycle-${i}`);
      const disconnected = new Promise((resolve) => {
        const off = stack.emulator.onInvoke((r) => r.functionName === 'disconnect' && resolve(off()));
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

/** The bench's switches (kit.ts QUIET_ENV) that would keep a handler from logging as deployed. */
const QUIETING = ['POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_METRICS_DISABLED'] as const;

/**
 * Bytes a uid push (one connection) writes to its log group, deployed at `level`: what Lambda's
 * `LogType: Tail` gives back for it (START, the handler's lines, its EMF metrics, END and REPORT),
 * the median of a few. The bench silences the handlers and their metrics from its shell, and those
 * switches win over the template, so they are set aside while this stack starts.
 */
async function logBytesPerPush(level: LogLevel): Promise<number> {
  const shell = QUIETING.map((name) => [name, process.env[name]] as const);
  for (const name of QUIETING) delete process.env[name];
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ port: 0, cdk: { props: { logLevel: level } } });
  } finally {
    for (const [name, value] of shell) if (value !== undefined) process.env[name] = value;
  }
  const lambda = new LambdaClient({ endpoint: stack.httpUrl, credentials: FAKE_CREDENTIALS });
  try {
    await virtualConnections(stack).add(1, { uid: () => 'log-probe' });
    const sizes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = await lambda.send(
        new InvokeCommand({
          FunctionName: 'publish',
          LogType: 'Tail',
          Payload: JSON.stringify({ to: { uid: 'log-probe' }, data: { i }, id: `log-${level}-${i}` }),
        }),
      );
      const answer = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) as { delivered?: number };
      if (answer.delivered !== 1) throw new Error(`log probe: the push answered ${JSON.stringify(answer)}`);
      sizes.push(Buffer.from(out.LogResult ?? '', 'base64').length);
    }
    return median(sizes);
  } finally {
    lambda.destroy();
    await stack.stop();
  }
}

/**
 * The floor's requests and the stack they go to. The stack is started as the handler's is in
 * {@link measurePublishCpu} (dynalite in a process of its own, 25 ms per post), so each floor
 * request meets the same kind of server as the handler's; only the publish handler runs in this
 * process here, so that its requests can be recorded on the wire.
 */
async function recordedFloor(heapMb: number, progress: Progress) {
  const stack = await startLocalStack({ port: 0, managementLatencyMs: 25, dynaliteProcess: true });
  const recorder = new HttpRecorder();
  try {
    await virtualConnections(stack).add(1, { uid: () => UID });
    for (let i = 0; i < 5; i++) await pushUid(stack, UID, `rec-${i}`, { i });
    const calls = await recorder.record(() => pushUid(stack, UID, 'rec-5', { i: 5 }));
    recorder.stop();
    if (!calls.some((c) => c.kind === 'post')) throw new Error('the recorded push made no @connections post');
    const operations = calls.map((c) => c.operation);
    progress.note(`signed floor: the push's ${calls.length} calls (${operations.join(', ')}), replayed`);
    const floor = await startSignedFloor(calls, { heapMb });
    return {
      floor,
      operations,
      stop: async () => {
        await floor.stop();
        await stack.stop();
      },
    };
  } catch (error) {
    recorder.stop();
    await stack.stop();
    throw error;
  }
}

export const publishCpuScenario: Scenario = async ({ quick, progress }) => {
  const stack = await startLocalStack({ port: 0 });
  let floor: Awaited<ReturnType<typeof recordedFloor>> | undefined;
  try {
    floor = await recordedFloor(stack.deployment.functions.publish.memorySizeMb, progress);
    const { operations } = floor;
    const cpu = await measurePublishCpu(quick, progress, floor.floor);
    await floor.stop();
    floor = undefined;
    await virtualConnections(stack).add(1, { uid: () => UID });
    const socket = await socketFor(stack, 'latency-0');
    const durations = await handlerDurations(stack, socket, quick, progress);
    socket.terminate();
    progress.note('log bytes: a uid push invoked with LogType Tail, deployed at INFO, then at WARN');
    const logBytes = { INFO: await logBytesPerPush('INFO'), WARN: await logBytesPerPush('WARN') };
    const ratios = cpu.windows.map((w) => w.ratio);
    const window = `after ${int(cpu.warmup)} warm-up pushes in the handler's process and as many rounds of each kind in the floor's, ${cpu.windows.length} windows of ${int(cpu.pushes)} pushes, each push followed by a floor round, so each process idles while the other works`;
    return {
      title: 'publish handler CPU per uid push',
      target: '≤ 2× the floor',
      ours: `${ms(cpu.perPushMs)} CPU per push (median of ${cpu.windows.length} windows of ${int(cpu.pushes)}, after ${int(cpu.warmup)} warm-up pushes)`,
      baseline: `the same ${operations.length} requests as bare signed calls, one invocation per round: ${ms(cpu.floorPerPushMs)} (same windows)`,
      ratio: times(cpu.ratio),
      verdict: cpu.ratio <= 2 ? 'pass' : 'fail',
      path: "publish handler in its own process (user + system CPU), 25 ms per @connections call; floor: SigV4 (the handler's own one-pass signer, lambdas/adapters/sigv4.ts) + node:http keep-alive, in a function of its own forked and invoked as the handler's (local/process-environment.ts), once per round",
      notes: [
        `window: ${window}; the ratio is the median of the windows' ratios (${ratios.map((r) => times(r)).join(', ')}), ours and the floor the medians of their windows; all windows together ${times(cpu.allWindowsRatio)}`,
        `floor requests, recorded from one push on the wire: ${operations.join(', ')}; answers in the measured windows ${JSON.stringify(cpu.floorStatuses)}, sent back to back ${JSON.stringify(cpu.loopStatuses)} (a replayed conditional write answers 400, as in AWS)`,
        `where the ratio goes: the same requests through the handlers' own clients (dynamoClientFromEnv, createManagementClient: signed HTTP, dynamo-http.ts and management-http.ts), replayed in the floor's process without the handler, one invocation per round, in ${cpu.windows.length} more windows where a push and such a round take turns: ${ms(cpu.sdkPerRoundMs)} per round (answers ${JSON.stringify(cpu.sdkStatuses)}), ${times(cpu.sdkOverFloor)} the measured windows' floor (medians), and the handler's process ${times(cpu.oursOverSdk)} its calls through those clients (median of those windows' ratios)`,
        `the floor sent back to back in one invocation (how this row measured it before): ${ms(cpu.loopPerRoundMs)} per round (median of one loop after each of those windows), so ours is ${times(cpu.perPushMs / cpu.loopPerRoundMs)} that; the measured windows' floor costs ${times(cpu.invocationsOverLoop)} as much CPU sent one invocation per round, each after the other process's push, as back to back, which is what waking a process for each piece of work costs on this machine`,
        `batch publish of ${BATCH_PUSHES} uid pushes (one connection each): ${ms(cpu.perBatchMs)} CPU per batch (${cpu.batches} batches); inline fan-out to ${cpu.fanOutConnections.toLocaleString('en-US')}: ${ms(cpu.perFanOutDeliveryMs)} CPU per delivery`,
        `handler durations for docs/cost.md (median, in-process, dynalite): publish to 1 connection with 25 ms @connections latency ${ms(durations.publishAt25ms)}, a batch of ${BATCH_PUSHES} ${ms(durations.publishBatchAt25ms)}, ping ${ms(durations.ping)}, authorizer ${ms(durations.authorizer)}, $connect ${ms(durations.connect)}, $disconnect ${ms(durations.disconnect)}`,
        `log bytes per uid push (LogType Tail: START, the handler's lines, its EMF metrics, END and REPORT; docs/cost.md prices them): ${int(logBytes.INFO)} deployed at logLevel INFO, ${int(logBytes.WARN)} at WARN`,
        'Lambda scales CPU with memory, so these CPU figures grow at smaller sizes (docs/cost.md)',
      ],
      data: {
        publishCpu: cpu,
        ratio: cpu.ratio,
        recorded: operations,
        handlerDurationsMs: durations,
        logBytesPerPush: logBytes,
      },
    };
  } finally {
    await floor?.stop();
    await stack.stop();
  }
};
