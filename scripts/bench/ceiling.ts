/**
 * The machine's ceiling, measured in the same run: `PostToConnection` calls per second through the
 * emulator when only the CPU limits them (same latency, the handlers' own client, no DynamoDB, no
 * retries), from child processes (this file, forked) as the shard workers run. In AWS none of the
 * posters' CPU would be ours; a fan-out that reaches this ceiling is bound by the machine.
 */
import { fileURLToPath } from 'node:url';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { createManagementClient } from '../../lambdas/adapters/management-gateway';
import { forEachBounded } from '../../lambdas/core/pool';
import type { LocalStack } from '../../local/stack';
import { virtualConnections } from '../../test/support/virtual';
import { FAKE_CREDENTIALS, median, type Progress, sleep } from './kit';
import { forkWorker, serveWorker } from './worker';

/** One pass of a poster: one post to each id. */
type Pass = readonly string[];

/** What a poster answers for a pass: posts that failed, and the CPU its process used for the pass. */
type PassResult = { readonly failed: number; readonly cpuMs: number };

/** One recorded window of the ceiling: a post to each id, from every poster at once. */
export interface CeilingPass {
  readonly delivered: number;
  readonly elapsedMs: number;
  readonly perSecond: number;
  /** The posters' own CPU for the pass: what one signed post costs the client that sends it. */
  readonly posterCpuMs: number;
}

/** Posters kept ready between windows, so a window can be measured right beside a scenario's run. */
export interface Ceiling {
  readonly processes: number;
  /** Measures one window: a post to each of `ids`, after letting the throttle's bucket refill. */
  pass(ids: readonly string[]): Promise<CeilingPass>;
  stop(): Promise<void>;
}

/**
 * Forks `processes` posters, 256 posts in flight in all, and runs one unrecorded pass over `warmIds`:
 * V8 needs thousands of calls to optimize the client, and a cold pass measured 40 % slower. Each
 * {@link Ceiling.pass} after that is one recorded window. A scenario measures its windows beside
 * its own runs, alternating which goes first, and compares each run with its neighbour window:
 * this shared machine's ceiling moved by a third between runs of the bench, and by as much within
 * one (one window measured after a scenario once read 3,176 and once 8,058 posts/s).
 */
export async function startCeiling(
  stack: LocalStack,
  warmIds: readonly string[],
  processes: number,
  progress: Progress,
): Promise<Ceiling> {
  progress.note(
    `machine ceiling: windows of one PostToConnection to each connection, 256 in flight, from ${processes} poster processes`,
  );
  const each = Math.max(1, Math.floor(256 / processes));
  const posters = await Promise.all(
    Array.from({ length: processes }, () =>
      forkWorker<null, Pass, PassResult>(fileURLToPath(import.meta.url), [
        '--poster',
        stack.managementEndpoint,
        String(each),
      ]),
    ),
  );
  const stop = () => Promise.all(posters.map((poster) => poster.stop())).then(() => undefined);
  const post = (ids: readonly string[]) => {
    const share = Math.ceil(ids.length / processes);
    return Promise.all(posters.map((poster, p) => poster.call(ids.slice(p * share, (p + 1) * share))));
  };
  const pass = async (ids: readonly string[]): Promise<CeilingPass> => {
    // Lets the emulator's token bucket fill again, so the window inherits no debt.
    await sleep(1_200);
    virtualConnections(stack).resetCounts();
    const started = performance.now();
    const results = await post(ids);
    const elapsedMs = performance.now() - started;
    const delivered = virtualConnections(stack).totalDeliveries;
    const posterCpuMs = results.reduce((sum, r) => sum + r.cpuMs, 0);
    return { delivered, elapsedMs, perSecond: delivered / (elapsedMs / 1000), posterCpuMs };
  };
  try {
    await post(warmIds);
  } catch (error) {
    await stop();
    throw error;
  }
  return { processes, pass, stop };
}

/** What a scenario reports of its ceiling windows. */
export function ceilingSummary(processes: number, posts: number, passes: readonly CeilingPass[]) {
  const perSecond = median(passes.map((p) => p.perSecond));
  const posterCpuPerPostMs = median(passes.map((p) => p.posterCpuMs / Math.max(1, posts)));
  return {
    processes,
    posts,
    perSecond,
    passesPerSecond: passes.map((p) => Math.round(p.perSecond)),
    posterCpuPerPostMs,
    passes,
  };
}

if (process.argv[2] === '--poster') {
  const data = Buffer.from(JSON.stringify({ type: 'message', id: 'ceiling', data: { probe: true }, ts: 0 }));
  const concurrency = Number(process.argv[4]);
  serveWorker(async () => {
    const client = createManagementClient({
      endpoint: process.argv[3] as string,
      region: 'us-east-1',
      credentials: FAKE_CREDENTIALS,
      maxSockets: concurrency,
    });
    const handle = async (ids: Pass): Promise<PassResult> => {
      const cpuBefore = process.cpuUsage();
      let failed = 0;
      await forEachBounded(ids, concurrency, async (connectionId) => {
        try {
          await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        } catch {
          failed++;
        }
      });
      const cpu = process.cpuUsage(cpuBefore);
      return { failed, cpuMs: (cpu.user + cpu.system) / 1000 };
    };
    return { handle };
  });
}
