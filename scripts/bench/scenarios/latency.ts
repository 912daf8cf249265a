/**
 * Scenario a: uid push latency, `POST /publish` → the client's receipt, in the topology users run.
 *
 * `npm start` runs in its own process; the client (a `ws` socket with a dev token) and the
 * publisher are this process. The floor is a bare push server (bare-push-server.ts: `ws` and
 * `node:http`, no database) run the same way: its own process, the same client code, an HTTP POST
 * that triggers the send. Each round pushes once through each, in alternating order so machine
 * noise hits both alike; each time runs from just before the POST to the client's `message` event.
 * The same push through a stack in this very process is kept as a detail: no user runs that.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { secretKey, signToken } from '../../../lambdas/core/token';
import { startLocalStack } from '../../../local/stack';
import { ms, times } from '../format';
import { npmStart } from '../npm-start';
import { FrameWaiter, openSocket } from '../sockets';
import { round, summarize } from '../stats';
import type { Scenario } from '../types';

const UID = 'latency-0';
const TARGET = 3;

/** One way to push: where to POST, and the client socket that receives. */
interface Route {
  readonly publishUrl: string;
  readonly waiter: FrameWaiter;
  readonly samples: number[];
  failed: number;
}

function route(publishUrl: string, socket: WebSocket): Route {
  return { publishUrl, waiter: new FrameWaiter(socket), samples: [], failed: 0 };
}

async function push(target: Route, id: string, record: boolean): Promise<void> {
  const arrived = target.waiter.wait(id);
  const t0 = performance.now();
  const res = await fetch(target.publishUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: { uid: UID }, data: { orderId: 42, note: 'latency probe' }, id }),
  });
  const answer = (await res.json()) as { delivered?: number };
  if (res.status !== 200 || answer.delivered !== 1) {
    arrived.catch(() => {});
    target.failed++;
    return;
  }
  const t1 = await arrived;
  if (record) target.samples.push(t1 - t0);
}

/** Starts the bare push server in its own process; resolves with its port once it listens. */
function startBareServer(root: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'scripts/bench/bare-push-server.ts')],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the bare push server exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => {
      const port = /listening on (\d+)/.exec(chunk.toString('utf8'))?.[1];
      if (port === undefined) reject(new Error(`the bare push server said ${chunk.toString('utf8')}`));
      else resolve({ child, port: Number(port) });
    });
  });
}

export const latencyScenario: Scenario = async ({ quick, progress, root }) => {
  const pushes = quick ? 100 : 500;
  const warmup = quick ? 10 : 50;
  progress.note(
    `npm start and a bare ws push server, each in its own process; ${pushes} pushes each after ${warmup} warm-up rounds`,
  );
  const [stack, bare, inProcess] = await Promise.all([
    npmStart(root),
    startBareServer(root),
    startLocalStack({ port: 0 }),
  ]);
  const sockets: WebSocket[] = [];
  try {
    const bareSocket = new WebSocket(`ws://127.0.0.1:${bare.port}/?uid=${UID}`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => bareSocket.once('open', resolve).once('error', reject));
    sockets.push(
      bareSocket,
      await openSocket(stack.wsUrl, await stack.token(UID)),
      await openSocket(inProcess.wsUrl, await signToken({ uid: UID }, secretKey(inProcess.tokenSecret))),
    );
    const floor = route(`http://127.0.0.1:${bare.port}/publish`, sockets[0] as WebSocket);
    const ours = route(`${stack.httpUrl}/publish`, sockets[1] as WebSocket);
    const detail = route(`${inProcess.httpUrl}/publish`, sockets[2] as WebSocket);
    const routes = [floor, ours, detail];
    for (let i = 0; i < warmup + pushes; i++) {
      for (let k = 0; k < routes.length; k++) {
        await push(routes[(i + k) % routes.length] as Route, `lat-${i}-${k}`, i >= warmup);
      }
      progress.tick('rounds', i + 1, warmup + pushes);
    }
    const [o, f, d] = [summarize(ours.samples), summarize(floor.samples), summarize(detail.samples)];
    const r50 = o.p50 / f.p50;
    const r99 = o.p99 / f.p99;
    const failed = ours.failed + floor.failed + detail.failed;
    return {
      id: 'a',
      title: 'uid push latency through npm start, publish → client receive',
      target: `p50 and p99 ≤ ${TARGET}× bare ws`,
      ours: `p50 ${ms(o.p50)}, p99 ${ms(o.p99)}`,
      baseline: `bare ws push server: p50 ${ms(f.p50)}, p99 ${ms(f.p99)}`,
      ratio: `p50 ${times(r50)}, p99 ${times(r99)}`,
      verdict: r50 <= TARGET && r99 <= TARGET && failed === 0 ? 'pass' : 'fail',
      path: '`npm start` in its own process; POST /publish and the ws client in the bench process; the bare server run the same way',
      notes: [
        `${pushes} pushes each, sequential, interleaved; failed: ours ${ours.failed}, bare ${floor.failed}, in-process ${detail.failed}`,
        `detail, not what users run: the same push through a stack inside the bench process, p50 ${ms(d.p50)}, p99 ${ms(d.p99)}`,
      ],
      data: {
        pushes,
        warmup,
        ours: roundSummary(o),
        bare: roundSummary(f),
        inProcess: roundSummary(d),
        ratioP50: round(r50),
        ratioP99: round(r99),
        failed: { ours: ours.failed, bare: floor.failed, inProcess: detail.failed },
      },
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    bare.child.kill();
    await Promise.all([stack.stop(), inProcess.stop()]);
  }
};

function roundSummary(summary: ReturnType<typeof summarize>): Record<string, number> {
  return Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, round(v, 3)]));
}
