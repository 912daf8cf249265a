/**
 * The machine's ceiling, measured in the same run: how many `PostToConnection` calls per second
 * this machine can push through the local emulator when nothing but the CPU limits it (the same
 * latency, the handlers' own client, no DynamoDB, no retries, up to 256 calls in flight). The
 * posters run in `processes` child processes, so the figure compares with shard workers that run
 * as processes too; the stack serving them keeps its own process. In AWS none of the posters'
 * CPU would be ours; a fan-out that reaches this ceiling is bound by the machine.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CeilingChildInput, CeilingChildMessage } from './ceiling-child';
import type { VirtualDeliveries } from './stack-features';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'ceiling-child.ts');

/** What the ceiling run measured. */
export interface Ceiling {
  readonly processes: number;
  readonly posts: number;
  readonly delivered: number;
  readonly elapsedMs: number;
  readonly perSecond: number;
}

function nextMessage(child: ChildProcess): Promise<CeilingChildMessage> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`ceiling poster exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (message: CeilingChildMessage) => {
      child.off('exit', onExit);
      resolve(message);
    });
  });
}

/**
 * Posts once to each of `ids`, split over `processes` posters with `concurrency` in flight in all,
 * and measures deliveries per second. Each poster first makes one unrecorded pass over its share:
 * V8 needs thousands of calls to optimize the client's code, and a cold pass measured about 40 %
 * slower than a warm one (the workers it is compared with are warm by then).
 */
export async function measureCeiling(
  managementEndpoint: string,
  ids: readonly string[],
  deliveries: VirtualDeliveries,
  { processes = 1, concurrency = 256 }: { processes?: number; concurrency?: number } = {},
): Promise<Ceiling> {
  const share = Math.ceil(ids.length / processes);
  const children = Array.from({ length: processes }, (_, p) => {
    const mine = ids.slice(p * share, (p + 1) * share);
    const input: CeilingChildInput = {
      endpoint: managementEndpoint,
      ids: mine,
      warmIds: mine,
      concurrency: Math.max(1, Math.floor(concurrency / processes)),
    };
    const child = fork(CHILD, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.send(input);
    return child;
  });
  try {
    await Promise.all(children.map(nextMessage));
    deliveries.resetCounts();
    const started = performance.now();
    const done = children.map(nextMessage);
    for (const child of children) child.send('go');
    await Promise.all(done);
    const elapsedMs = performance.now() - started;
    const delivered = deliveries.totalDeliveries;
    return { processes, posts: ids.length, delivered, elapsedMs, perSecond: delivered / (elapsedMs / 1000) };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}
