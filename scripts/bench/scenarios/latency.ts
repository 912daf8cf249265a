/**
 * Scenario a: uid push latency, publish → client receive, against a raw `ws` send.
 *
 * One real socket is connected to an in-process local stack. Each round sends three frames of the
 * same size, interleaved so machine noise hits all three alike: a raw `ws` server → client send
 * (the floor on this machine), a Management API `PostToConnection` (the emulator's own cost), and
 * a `POST /publish` to the uid (the real publish handler: log append, one Query, the post). Each
 * time runs from just before the send to the client's `message` event.
 *
 * For the cost model it also takes each handler's billed duration, including a batch publish of
 * {@link BATCH_PUSHES} uid pushes to as many clients, and the publish handler's CPU per push and
 * per batch (cpu-probes.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { WebSocket, WebSocketServer } from 'ws';
import { secretKey, signToken } from '../../../lambdas/core/token';
import { type LocalStack, startLocalStack } from '../../../local/stack';
import { measurePublishCpu } from '../cpu-probes';
import { FAKE_CREDENTIALS } from '../env';
import { ms, times } from '../format';
import type { Progress } from '../progress';
import { openSocket } from '../sockets';
import { BATCH_PUSHES, expectUidBatchDelivered, postPublish, uidBatch } from '../stack-features';
import { median, round, summarize } from '../stats';
import type { Scenario } from '../types';

const UID = 'latency-0';

/** Resolves with the next frame whose `id` matches, on one client socket. */
class FrameWaiter {
  readonly #waiting = new Map<string, (at: number) => void>();

  constructor(ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const at = performance.now();
      let id: string | undefined;
      try {
        id = (JSON.parse(data.toString('utf8')) as { id?: string }).id;
      } catch {
        return;
      }
      if (id === undefined) return;
      this.#waiting.get(id)?.(at);
      this.#waiting.delete(id);
    });
  }

  wait(id: string, timeoutMs = 10_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`frame ${id} not received within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

/** A raw ws server and one client to it: the floor. */
async function rawPair(): Promise<{ server: WebSocket; client: WebSocket; close: () => Promise<void> }> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const server = await serverSide;
  return {
    server,
    client,
    close: async () => {
      client.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export const latencyScenario: Scenario = async ({ quick, progress }) => {
  const pushes = quick ? 100 : 1000;
  const warmup = quick ? 10 : 50;
  progress.note(`starting an in-process stack; ${pushes} pushes of each kind after ${warmup} warm-up rounds`);
  const stack = await startLocalStack({ port: 0 });
  const raw = await rawPair();
  const management = new ApiGatewayManagementApiClient({
    endpoint: stack.managementEndpoint,
    region: stack.region,
    credentials: FAKE_CREDENTIALS,
  });
  try {
    const token = await signToken({ uid: UID }, secretKey(stack.tokenSecret));
    const socket = await openSocket(stack.wsUrl, token);
    const [connectionId] = stack.emulator.connectionIds();
    if (connectionId === undefined) throw new Error('the latency socket is not registered');
    const ours = new FrameWaiter(socket);
    const floor = new FrameWaiter(raw.client);
    const samples = { publish: [] as number[], post: [] as number[], raw: [] as number[] };
    const failures = { publish: 0 };
    const data = { orderId: 42, note: 'latency probe' };
    for (let i = 0; i < warmup + pushes; i++) {
      const record = i >= warmup;
      // The raw floor: the same frame shape, straight from a ws server.
      const rawId = `raw-${i}`;
      const rawFrame = JSON.stringify({ type: 'message', id: rawId, seq: i, data, ts: Date.now() });
      const rawArrived = floor.wait(rawId);
      const t0 = performance.now();
      raw.server.send(rawFrame);
      const t1 = await rawArrived;
      if (record) samples.raw.push(t1 - t0);

      // The emulator alone: PostToConnection through the Management API.
      const postId = `post-${i}`;
      const postFrame = JSON.stringify({ type: 'message', id: postId, seq: i, data, ts: Date.now() });
      const postArrived = ours.wait(postId);
      const t2 = performance.now();
      await management.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(postFrame) }),
      );
      const t3 = await postArrived;
      if (record) samples.post.push(t3 - t2);

      // The real thing: publish to the uid.
      const id = `lat-${i}`;
      const arrived = ours.wait(id);
      const t4 = performance.now();
      const { status: code, body: result } = await postPublish(stack, { to: { uid: UID }, data, id });
      if (code !== 200 || result.delivered !== 1) {
        failures.publish++;
        arrived.catch(() => {});
        continue;
      }
      const t5 = await arrived;
      if (record) samples.publish.push(t5 - t4);
      progress.tick('rounds', i + 1, warmup + pushes);
    }
    const { durations, batchProbe } = await costProbes(stack, socket, quick, progress);
    socket.terminate();
    const cpu = await measurePublishCpu(quick, progress);
    const publish = summarize(samples.publish);
    const post = summarize(samples.post);
    const floorSummary = summarize(samples.raw);
    return {
      id: 'a',
      title: 'uid push latency, publish → client receive',
      target: 'reported',
      ours: `p50 ${ms(publish.p50)}, p99 ${ms(publish.p99)}`,
      baseline: `raw ws send: p50 ${ms(floorSummary.p50)}, p99 ${ms(floorSummary.p99)}`,
      ratio: `p50 ${times(publish.p50 / floorSummary.p50)}, p99 ${times(publish.p99 / floorSummary.p99)}`,
      verdict: failures.publish === 0 ? 'reported' : 'fail',
      path: 'POST /publish → publish handler (log append, byUid Query, PostToConnection), in-process stack',
      notes: [
        `${pushes} pushes each, sequential, interleaved with the baselines; ${failures.publish} publishes failed`,
        `handler durations for the cost model (median, in-process, dynalite): publish to 1 connection with 25 ms @connections latency ${ms(durations.publishAt25ms)}, ping ${ms(durations.ping)}, authorizer ${ms(durations.authorizer)}, $connect ${ms(durations.connect)}, $disconnect ${ms(durations.disconnect)}`,
        `batch publish of ${BATCH_PUSHES} uid pushes (${BATCH_PUSHES} uids, one connection each, 25 ms @connections latency): publish handler ${ms(durations.publishBatchAt25ms)} per batch (median of ${batchProbe.batches}, one invocation each), ${ms(cpu.perBatchMs)} CPU per batch inside its own process (${cpu.batches} batches); ${batchProbe.deliveries.toLocaleString('en-US')} of ${(batchProbe.batches * BATCH_PUSHES).toLocaleString('en-US')} clients' messages received`,
        `publish handler CPU, measured inside its own process (user + system): ${ms(cpu.perPushMs)} per uid push to one connection, ${ms(cpu.perFanOutDeliveryMs)} per delivery of an inline fan-out to ${cpu.fanOutConnections.toLocaleString('en-US')}; Lambda scales CPU with memory, so these grow at smaller sizes (docs/cost.md)`,
        `PostToConnection alone (emulator, no handler): p50 ${ms(post.p50)}, p99 ${ms(post.p99)}`,
        'absolute figures are this machine; the ratio to the raw send measured in the same run is what carries over',
      ],
      data: {
        pushes,
        warmup,
        failures,
        publishMs: roundSummary(publish),
        postToConnectionMs: roundSummary(post),
        rawWsMs: roundSummary(floorSummary),
        ratioP50: round(publish.p50 / floorSummary.p50),
        ratioP99: round(publish.p99 / floorSummary.p99),
        handlerDurationsMs: durations,
        batchProbe,
        publishCpu: cpu,
      },
    };
  } finally {
    management.destroy();
    await raw.close();
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

/** How the batch publish probe went: batches recorded and client messages received for them. */
export interface BatchProbe {
  readonly batches: number;
  readonly deliveries: number;
}

/**
 * Durations of each handler as Lambda would bill them (the invocation's own time, as the local
 * functions measure it): uid pushes and batches of them with the Management API's 25 ms round
 * trip switched on, idle pings, and connect/disconnect cycles.
 */
async function costProbes(
  stack: LocalStack,
  socket: WebSocket,
  quick: boolean,
  progress: Progress,
): Promise<{ durations: HandlerDurations; batchProbe: BatchProbe }> {
  const rounds = quick ? 20 : 100;
  const batches = quick ? 20 : 100;
  const batchWarmup = quick ? 5 : 10;
  const cycles = quick ? 5 : 20;
  const key = secretKey(stack.tokenSecret);
  // Opened before invocations are recorded, so their handshakes add no $connect samples.
  const batchUids = Array.from({ length: BATCH_PUSHES }, (_, k) => `latency-batch-${k}`);
  const batchSockets: WebSocket[] = [];
  for (const uid of batchUids)
    batchSockets.push(await openSocket(stack.wsUrl, await signToken({ uid }, key)));
  const batchWaiters = batchSockets.map((ws) => new FrameWaiter(ws));
  const seen: Record<string, number[]> = {};
  const stop = stack.emulator.onInvoke((record) => {
    const list = seen[record.functionName] ?? [];
    list.push(record.durationMs);
    seen[record.functionName] = list;
  });
  try {
    progress.note(
      `cost probes: ${rounds} pushes and ${batches} batches of ${BATCH_PUSHES} at 25 ms latency, ${rounds} pings, ${cycles} connect/disconnect cycles`,
    );
    const replies = new FrameWaiter(socket);
    stack.emulator.managementLatencyMs = 25;
    for (let i = 0; i < rounds; i++) {
      const id = `cost-${i}`;
      const arrived = replies.wait(id);
      await postPublish(stack, { to: { uid: UID }, data: { i }, id });
      await arrived;
    }
    const publishAt25ms = median(seen.publish ?? []);

    // Each batch: one invocation, and every client's message received before the next batch.
    let deliveries = 0;
    const sendBatch = async (b: number) => {
      const body = uidBatch(batchUids, `cost-batch-${b}`, { b });
      const arrivals = body.batch.map((item, k) =>
        (batchWaiters[k] as FrameWaiter).wait(item.id).then(() => {
          if (b >= batchWarmup) deliveries++;
        }),
      );
      try {
        expectUidBatchDelivered(
          await postPublish(stack, body),
          body.batch.map((item) => item.id),
        );
      } catch (error) {
        for (const arrival of arrivals) arrival.catch(() => {});
        throw error;
      }
      await Promise.all(arrivals);
    };
    for (let b = 0; b < batchWarmup; b++) await sendBatch(b);
    const before = seen.publish?.length ?? 0;
    for (let b = batchWarmup; b < batchWarmup + batches; b++) await sendBatch(b);
    const batchSamples = (seen.publish ?? []).slice(before);
    if (batchSamples.length !== batches) {
      throw new Error(`${batches} batch publishes took ${batchSamples.length} publish invocations`);
    }
    if (deliveries !== batches * BATCH_PUSHES) {
      throw new Error(`batch publishes: ${deliveries} of ${batches * BATCH_PUSHES} messages received`);
    }
    stack.emulator.managementLatencyMs = 0;
    for (let i = 0; i < rounds; i++) {
      const pong = new Promise<void>((resolve) => {
        const onMessage = (data: Buffer) => {
          if (data.toString('utf8').includes('"pong"')) {
            socket.off('message', onMessage);
            resolve();
          }
        };
        socket.on('message', onMessage);
      });
      socket.send(JSON.stringify({ action: 'ping' }));
      await pong;
    }
    for (let i = 0; i < cycles; i++) {
      const token = await signToken({ uid: `cost-cycle-${i}` }, key);
      const ws = await openSocket(stack.wsUrl, token);
      const disconnected = new Promise<void>((resolve) => {
        const off = stack.emulator.onInvoke((record) => {
          if (record.functionName === 'disconnect') {
            off();
            resolve();
          }
        });
      });
      ws.close();
      await disconnected;
    }
    return {
      durations: {
        publishAt25ms: round(publishAt25ms, 2),
        publishBatchAt25ms: round(median(batchSamples), 2),
        ping: round(median(seen.default ?? []), 2),
        authorizer: round(median(seen.authorizer ?? []), 2),
        connect: round(median(seen.connect ?? []), 2),
        disconnect: round(median(seen.disconnect ?? []), 2),
      },
      batchProbe: { batches, deliveries },
    };
  } finally {
    stack.emulator.managementLatencyMs = 0;
    stop();
    for (const ws of batchSockets) ws.terminate();
  }
}

function roundSummary(summary: ReturnType<typeof summarize>): Record<string, number> {
  return Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, round(v, 3)]));
}
