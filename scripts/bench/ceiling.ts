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
import { FAKE_CREDENTIALS, int, type Progress, sleep } from './kit';
import { forkWorker, serveWorker } from './worker';

/** One pass of a poster: one post to each id. */
type Pass = readonly string[];

/** What a poster answers for a pass: posts that failed, and the CPU its process used for the pass. */
type PassResult = { readonly failed: number; readonly cpuMs: number };

/** Recorded passes; the ceiling is their median. */
const PASSES = 3;

/**
 * Posts once to each of `ids` from `processes` posters, 256 in flight in all, after one unrecorded
 * pass: V8 needs thousands of calls to optimize the client, and a cold pass measured 40 % slower.
 * Then {@link PASSES} recorded passes, and the one with the median rate is the ceiling: one pass of
 * 10,000 posts takes about 3 s, and single passes in one state of the machine ranged from 2,870 to
 * 3,530 posts/s.
 */
export async function measureCeiling(
  stack: LocalStack,
  ids: readonly string[],
  processes: number,
  progress: Progress,
) {
  progress.note(
    `machine ceiling: one PostToConnection to each of ${int(ids.length)}, 256 in flight, from ${processes} poster processes`,
  );
  // Lets the emulator's token bucket fill again, so the ceiling inherits no debt.
  await sleep(1_200);
  const share = Math.ceil(ids.length / processes);
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
  const pass = () =>
    Promise.all(posters.map((poster, p) => poster.call(ids.slice(p * share, (p + 1) * share))));
  const recorded = async () => {
    virtualConnections(stack).resetCounts();
    const started = performance.now();
    const results = await pass();
    const elapsedMs = performance.now() - started;
    const delivered = virtualConnections(stack).totalDeliveries;
    // The posters' own CPU for the pass (warm): what one signed post costs the client that sends
    // it, the figure a shard worker's CPU per delivery is held against.
    const posterCpuMs = results.reduce((sum, r) => sum + r.cpuMs, 0);
    return { delivered, elapsedMs, perSecond: delivered / (elapsedMs / 1000), posterCpuMs };
  };
  try {
    await pass();
    const passes: Awaited<ReturnType<typeof recorded>>[] = [];
    for (let k = 0; k < PASSES; k++) passes.push(await recorded());
    const median = [...passes].sort((a, b) => a.perSecond - b.perSecond)[
      (PASSES - 1) >> 1
    ] as (typeof passes)[0];
    return {
      processes,
      posts: ids.length,
      delivered: median.delivered,
      elapsedMs: median.elapsedMs,
      perSecond: median.perSecond,
      passesPerSecond: passes.map((p) => Math.round(p.perSecond)),
      posterCpuMs: median.posterCpuMs,
      posterCpuPerPostMs: median.posterCpuMs / Math.max(1, ids.length),
    };
  } finally {
    await Promise.all(posters.map((poster) => poster.stop()));
  }
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
