/**
 * Scenario a: uid push latency, `POST /publish` → the client's `message` event, in the topology
 * users run: `npm start` in its own process, the client and publisher in this one. The floor is a
 * bare push server (bare-push-server.ts) run the same way. Each round pushes once through each, in
 * alternating order so machine noise hits both alike. The same push through a stack in this very
 * process is kept as a detail: no user runs that.
 */
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { startLocalStack } from '../../../local/stack';
import { ms, openSocket, postPublish, round, type Scenario, socketFor, summarize, times } from '../kit';
import { npmStart } from '../npm-start';
import { processCpuMs } from '../process-cpu';

import { forkWorker } from '../worker';

const UID = 'latency-0';
const TARGET = 3;

/** One way to push: where to `POST /publish`, the client socket that receives, and what it measured. */
class Route {
  readonly samples: number[] = [];
  failed = 0;
  readonly #arrivals = new Map<string, (at: number) => void>();

  constructor(
    readonly httpUrl: string,
    readonly socket: WebSocket,
  ) {
    socket.on('message', (data: Buffer) => {
      const at = performance.now();
      let id: string | undefined;
      try {
        id = (JSON.parse(data.toString('utf8')) as { id?: string }).id;
      } catch {}
      this.#arrivals.get(id ?? '')?.(at);
    });
  }

  async push(id: string, record: boolean): Promise<void> {
    const data = { orderId: 42, note: 'latency probe' };
    const arrived = new Promise<number>((resolve, reject) => {
      this.#arrivals.set(id, resolve);
      setTimeout(() => reject(new Error(`frame ${id} not received within 10000 ms`)), 10_000).unref();
    });
    const t0 = performance.now();
    const { status, body } = await postPublish(this, { to: { uid: UID }, data, id });
    if (status !== 200 || body.delivered !== 1) {
      arrived.catch(() => {});
      this.failed++;
    } else if (record) this.samples.push((await arrived) - t0);
    else await arrived;
    this.#arrivals.delete(id);
  }
}

type S = ReturnType<typeof summarize>;

/**
 * Where a push's CPU went, per process (all threads, from /proc): `npm start`'s stack process and
 * dynalite's, against the bare server's whole CPU per push. A push waits for each of them in turn,
 * so dynalite's figure alone, set against the target's budget (3 × the bare server's p50), shows
 * how much of that budget the local database takes before the stack's own work is counted.
 */
function cpuNote(
  cpu: Readonly<Record<'stack' | 'dynalite' | 'bare', number | undefined>>,
  bareP50: number,
): string {
  if (cpu.stack === undefined || cpu.dynalite === undefined || cpu.bare === undefined) {
    return 'CPU per push by process: not measured (needs Linux /proc)';
  }
  const budget = TARGET * bareP50;
  return (
    `CPU per push, every thread of each process: npm start's stack process ${ms(cpu.stack)}, dynalite's process ` +
    `${ms(cpu.dynalite)} (all of the push's DynamoDB calls, ${times(cpu.dynalite / budget)} the p50 budget of ` +
    `${ms(budget)}), the bare server ${ms(cpu.bare)}`
  );
}

const rounded = (samples: readonly number[]) =>
  Object.fromEntries(Object.entries(summarize(samples)).map(([k, v]) => [k, round(v, 3)]));

export const latencyScenario: Scenario = async ({ quick, progress, root }) => {
  const pushes = quick ? 100 : 500;
  const warmup = quick ? 10 : 50;
  progress.note(
    `npm start and a bare ws push server, each in its own process; ${pushes} pushes each after ${warmup} warm-up rounds`,
  );
  const [stack, bare, inProcess] = await Promise.all([
    npmStart(root),
    forkWorker<number, never, never>(join(root, 'scripts/bench/bare-push-server.ts'), []),
    startLocalStack({ port: 0 }),
  ]);
  const routes: Route[] = [];
  try {
    const bareUrl = `127.0.0.1:${bare.ready}`;
    routes.push(
      new Route(`http://${bareUrl}`, await openSocket(`ws://${bareUrl}/?uid=${UID}`)),
      new Route(stack.httpUrl, await openSocket(stack.wsUrl, await stack.token(UID))),
      new Route(inProcess.httpUrl, await socketFor(inProcess, UID)),
    );
    const pids = stack.processes();
    const readCpu = () => ({
      stack: pids && processCpuMs(pids.stack),
      dynalite: pids && processCpuMs(pids.dynalite),
      bare: processCpuMs(bare.pid),
    });
    let cpuBefore = readCpu();
    for (let i = 0; i < warmup + pushes; i++) {
      if (i === warmup) cpuBefore = readCpu();
      for (let k = 0; k < routes.length; k++) {
        await (routes[(i + k) % routes.length] as Route).push(`lat-${i}-${k}`, i >= warmup);
      }
      progress.tick('rounds', i + 1, warmup + pushes);
    }
    const cpuAfter = readCpu();
    const perPush = (key: keyof typeof cpuAfter) => {
      const [before, after] = [cpuBefore[key], cpuAfter[key]];
      return before === undefined || after === undefined ? undefined : round((after - before) / pushes, 3);
    };
    const cpu = { stack: perPush('stack'), dynalite: perPush('dynalite'), bare: perPush('bare') };
    const [floor, ours, detail] = routes as [Route, Route, Route];
    const [f, o, d] = routes.map((r) => summarize(r.samples)) as [S, S, S];
    const r50 = o.p50 / f.p50;
    const r99 = o.p99 / f.p99;
    const failed = ours.failed + floor.failed + detail.failed;
    return {
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
        cpuNote(cpu, f.p50),
      ],
      data: {
        pushes,
        warmup,
        ours: rounded(ours.samples),
        bare: rounded(floor.samples),
        inProcess: rounded(detail.samples),
        ratioP50: round(r50),
        ratioP99: round(r99),
        cpuPerPushMs: cpu,
        failed: { ours: ours.failed, bare: floor.failed, inProcess: detail.failed },
      },
    };
  } finally {
    for (const route of routes) route.socket.terminate();
    await Promise.all([bare.stop(), stack.stop(), inProcess.stop()]);
  }
};
