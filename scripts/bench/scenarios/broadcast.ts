/**
 * Scenario c: broadcast to 100k virtual connections through the sharded workers.
 *
 * One in-process stack with the settings of scenario b (25 ms per `@connections` call, 429 above
 * 10,000/s, a 10k/s budget split over the worker's reserved concurrency) holds 100k virtual
 * connections spread over the 16 shards. `POST /publish {"to":{"all":true}}` queues one job per
 * shard; the real worker runs them from the in-process SQS queue. Time to last delivery is the
 * last delivery's arrival minus the moment before the publish. The baseline measured in the same
 * run is the AWS sample's single Scan page against the same table (how many of the 100k it would
 * reach at all); posting to 100k through it would take minutes, so the time is compared with the
 * floor the budget sets (100k ÷ 10k/s = 10 s).
 */

import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { LIMITS } from '../../../lambdas/shared/limits';
import { ATTR, SK } from '../../../lambdas/shared/tables';
import { type LocalStackOptions, startLocalStack } from '../../../local/stack';
import { virtualConnections } from '../../../test/support/virtual';
import { measureCeiling } from '../ceiling';
import { int, seconds, times } from '../format';
import { naiveClients } from '../scan-baseline';
import {
  DEPLOYED_WORKER_TIMEOUTS,
  type FanOutStackOptions,
  lastArrival,
  missedOf,
  type PublishStatusBody,
  postPublish,
  WORKER_PROCESSES,
  waitForShardedPublish,
} from '../stack-features';
import { round } from '../stats';
import type { Scenario } from '../types';

const LATENCY_MS = 25;
const BUDGET = 10_000;
const ACCOUNT_THROTTLE = 10_000;
/** How long the broadcast may take before it is cut off and reported as it stands. */
const TIMEOUT_MS = 240_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const broadcastScenario: Scenario = async ({ quick, progress }) => {
  const n = quick ? 5_000 : 100_000;
  const features: FanOutStackOptions = {
    managementLatencyMs: LATENCY_MS,
    rateBudget: BUDGET,
    shardThreshold: LIMITS.shardThreshold,
    workerConcurrency: LIMITS.workerConcurrency,
    ...DEPLOYED_WORKER_TIMEOUTS,
    processes: { worker: WORKER_PROCESSES },
  };
  const options: LocalStackOptions = { port: 0, ...features };
  const stack = await startLocalStack(options);
  stack.emulator.faults.managementRateLimit = ACCOUNT_THROTTLE;
  const clients = naiveClients(stack.dynamodbEndpoint, stack.managementEndpoint);
  try {
    const deliveries = virtualConnections(stack);
    progress.note(`adding ${int(n)} virtual connections over ${LIMITS.shards} shards (BatchWriteItem)`);
    const addStarted = performance.now();
    const chunk = 10_000;
    const ids: string[] = [];
    for (let added = 0; added < n; added += chunk) {
      const count = Math.min(chunk, n - added);
      ids.push(...(await virtualConnections(stack).add(count, { uid: (i) => `broadcast-${added + i}` })));
      progress.tick('virtual connections', added + count, n);
    }
    const addMs = performance.now() - addStarted;

    progress.note('the sample baseline: one Scan page of the same table');
    const page = await clients.doc.send(
      new ScanCommand({
        TableName: stack.tableName,
        FilterExpression: '#sk = :conn',
        ExpressionAttributeNames: { '#sk': ATTR.sk },
        ExpressionAttributeValues: { ':conn': SK.connection },
      }),
    );
    const sampleReach = page.Items?.length ?? 0;

    await sleep(1_200);
    deliveries.resetCounts();
    const managementBefore = stack.emulator.stats.management;
    const id = `broadcast-${n}`;
    progress.note(`broadcast to ${int(n)}`);
    const t0 = performance.now();
    const { status: code, body: result } = await postPublish(stack, {
      to: { all: true },
      data: { note: 'broadcast bench' },
      id,
    });
    if (code !== 200) throw new Error(`publish answered ${code}: ${JSON.stringify(result)}`);
    const sharded = result.queued === true;
    const deadline = t0 + (quick ? 60_000 : TIMEOUT_MS);
    let status: PublishStatusBody | undefined;
    if (sharded) {
      status = await waitForShardedPublish(stack, id, ids, deadline, (delivered) =>
        progress.tick('deliveries', delivered, n),
      );
    }
    const waitedMs = performance.now() - t0;
    const lastDeliveryMs = lastArrival(deliveries, t0);
    const delivered = deliveries.totalDeliveries;
    const missed = missedOf(deliveries, ids);
    const duplicates = delivered - (n - missed);
    const failed = sharded ? (status?.failed ?? Number.NaN) : Number(result.failed ?? Number.NaN);
    const managementAfter = stack.emulator.stats.management;
    const throttled = managementAfter.rateLimited - managementBefore.rateLimited;
    const requests = managementAfter.requests - managementBefore.requests;
    const queueStats = stack.shardQueue.stats;
    // CPU the worker processes used for the broadcast (reads, checkpoints and posts), per delivery:
    // what sizes the worker's memory for its share of the budget (docs/cost.md).
    const workerCpuMs = queueStats.worker.processes?.cpuMs ?? Number.NaN;
    const workerCpuPerDeliveryMs = workerCpuMs / Math.max(1, delivered);

    const probe = ids.slice(0, Math.min(ids.length, 10_000));
    progress.note(
      `machine ceiling: one PostToConnection to each of ${int(probe.length)}, 256 in flight, from ${WORKER_PROCESSES} poster processes`,
    );
    await sleep(1_200);
    const ceiling = await measureCeiling(stack.managementEndpoint, probe, deliveries, {
      processes: WORKER_PROCESSES,
    });
    const floorMs = (n / BUDGET) * 1000;
    // Connections reached, not posts that arrived: a repeat (a retried post that had arrived) is no progress.
    const rate = (n - missed) / (lastDeliveryMs / 1000);
    const ofCeiling = rate / ceiling.perSecond;
    const pass = sharded && ofCeiling >= 0.9 && failed === 0 && missed === 0;
    return {
      id: 'c',
      title: `broadcast to ${int(n)} virtual connections`,
      target: '≥ 0.9× ceiling, 0 failed',
      ours: `${seconds(lastDeliveryMs)}, ${int(n - missed)}/${int(n)} reached${duplicates > 0 ? ` (+${int(duplicates)} repeats)` : ''}, ${int(throttled)} throttled, ${Number.isNaN(failed) ? 'failed unknown' : `${int(failed)} failed`}`,
      baseline: `machine ceiling: ${int(ceiling.perSecond)} signed posts/s; the sample's Scan page reaches ${int(sampleReach)}/${int(n)}`,
      ratio: `${times(ofCeiling)} the ceiling (${int(rate)}/s)`,
      verdict: pass ? 'pass' : 'fail',
      path: sharded
        ? `sharded: ${result.shards} shard jobs on the in-process SQS queue, ${features.workerConcurrency} worker environments in ${WORKER_PROCESSES} processes, ${int(BUDGET / features.workerConcurrency)}/s each`
        : 'inline (no shard queue in this stack)',
      notes: [
        ...(missed > 0
          ? [`stopped waiting after ${seconds(waitedMs)} with ${int(missed)} connections still waiting`]
          : []),
        `${int(rate)} deliveries/s on average, last delivery ${seconds(lastDeliveryMs)} after the publish`,
        `machine ceiling, same run: ${int(ceiling.perSecond)} signed posts/s through the emulator from ${ceiling.processes} poster processes (the handlers' client, 256 in flight in all)`,
        `AWS projection, not a measurement: at the ${int(BUDGET)}/s budget ${int(n)} connections take ${seconds(floorMs)}`,
        `${int(requests)} @connections calls for ${int(n)} connections; ${int(duplicates)} deliveries beyond one per connection (a post that outlives the worker's ${LIMITS.sendTimeoutMs / 1000} s send timeout is retried although it arrived; the client drops the repeat by id)`,
        `${queueStats.worker.invocations} worker invocations for ${queueStats.queue.sent} shard jobs (visibility timeout ${features.shardVisibilityTimeoutMs / 60_000} min, as deployed), ${queueStats.deadLetters} in the dead-letter queue`,
        `worker CPU, measured inside its processes: ${seconds(workerCpuMs)} in all, ${workerCpuPerDeliveryMs.toFixed(3)} ms per delivery (shard reads, checkpoints and posts; JIT warm-up included, the workers start cold)`,
        `${int(n)} virtual connections written in ${seconds(addMs)}`,
      ],
      data: {
        connections: n,
        settings: { ...features, accountThrottlePerSecond: ACCOUNT_THROTTLE },
        result,
        status,
        lastDeliveryMs: round(lastDeliveryMs, 1),
        delivered,
        missed,
        duplicates,
        throttled,
        failed,
        floorMs,
        sampleScanReach: sampleReach,
        managementRequests: requests,
        shardQueue: queueStats,
        ceiling,
        workerCpuPerDeliveryMs: round(workerCpuPerDeliveryMs, 4),
        addMs: round(addMs),
      },
    };
  } finally {
    clients.destroy();
    // A broadcast cut off by the timeout still has workers writing to dynalite; let them finish.
    await stack.shardQueue.whenDrained(TIMEOUT_MS).catch(() => {});
    await stack.stop();
  }
};
