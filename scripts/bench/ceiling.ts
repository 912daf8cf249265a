/**
 * The machine's ceiling, measured in the same run: how many `PostToConnection` calls per second
 * this machine can push through the local emulator when nothing but the CPU limits it (the same
 * latency, the handlers' own client, no DynamoDB, no retries, up to 256 calls in flight). The
 * posters run in `processes` child processes (this file, forked with `--ceiling-poster`), so the
 * figure compares with shard workers that run as processes too; the stack serving them keeps its
 * own process. In AWS none of the posters' CPU would be ours; a fan-out that reaches this ceiling
 * is bound by the machine.
 */
import { fileURLToPath } from 'node:url';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { createManagementClient } from '../../lambdas/adapters/management-gateway';
import { forEachBounded } from '../../lambdas/core/pool';
import { FAKE_CREDENTIALS } from './env';
import type { VirtualDeliveries } from './stack-features';
import { forkWorker, serveWorker } from './worker';

/** What the ceiling run measured. */
export interface Ceiling {
  readonly processes: number;
  readonly posts: number;
  readonly delivered: number;
  readonly elapsedMs: number;
  readonly perSecond: number;
}

/** One pass of a poster: one post to each id, `concurrency` in flight; answers how many failed. */
interface Pass {
  readonly ids: readonly string[];
  readonly concurrency: number;
}

const SELF = fileURLToPath(import.meta.url);

/**
 * Posts once to each of `ids`, split over `processes` posters with `concurrency` in flight in all,
 * and measures deliveries per second. Each poster first makes one unrecorded pass over its share:
 * V8 needs thousands of calls to optimize the client's code, and a cold pass measured about 40 %
 * slower.
 */
export async function measureCeiling(
  managementEndpoint: string,
  ids: readonly string[],
  deliveries: VirtualDeliveries,
  { processes = 1, concurrency = 256 }: { processes?: number; concurrency?: number } = {},
): Promise<Ceiling> {
  const share = Math.ceil(ids.length / processes);
  const each = Math.max(1, Math.floor(concurrency / processes));
  const posters = await Promise.all(
    Array.from({ length: processes }, () =>
      forkWorker<null, Pass, number>(SELF, ['--ceiling-poster', managementEndpoint, String(each)]),
    ),
  );
  try {
    const shares = posters.map((_, p) => ids.slice(p * share, (p + 1) * share));
    await Promise.all(posters.map((poster, p) => poster.call({ ids: shares[p] ?? [], concurrency: each })));
    deliveries.resetCounts();
    const started = performance.now();
    await Promise.all(posters.map((poster, p) => poster.call({ ids: shares[p] ?? [], concurrency: each })));
    const elapsedMs = performance.now() - started;
    const delivered = deliveries.totalDeliveries;
    return { processes, posts: ids.length, delivered, elapsedMs, perSecond: delivered / (elapsedMs / 1000) };
  } finally {
    await Promise.all(posters.map((poster) => poster.stop()));
  }
}

const data = Buffer.from(JSON.stringify({ type: 'message', id: 'ceiling', data: { probe: true }, ts: 0 }));

if (process.argv[2] === '--ceiling-poster') {
  serveWorker<ReturnType<typeof createManagementClient>, Pass, number>(
    async () => {
      const client = createManagementClient({
        endpoint: process.argv[3] as string,
        region: 'us-east-1',
        credentials: FAKE_CREDENTIALS,
        maxSockets: Number(process.argv[4]),
      });
      return { ready: null, state: client };
    },
    async (client, { ids, concurrency }) => {
      let failed = 0;
      await forEachBounded(ids, concurrency, async (connectionId) => {
        try {
          await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        } catch {
          failed++;
        }
      });
      return failed;
    },
  );
}
