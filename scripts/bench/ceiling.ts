/**
 * The machine's ceiling, measured in the same run: how many `PostToConnection` calls per second
 * one process can push through the local emulator when nothing but the CPU limits it (the same
 * latency, up to 256 calls in flight: 10,000/s at 25 ms, no Scan, no DynamoDB, no retries). The local stack runs
 * the Lambdas, the emulator and the SDK clients in one Node process on this machine's cores; in
 * AWS none of that CPU is ours. A fan-out that reaches this ceiling is bound by the machine.
 */
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { createManagementClient } from '../../lambdas/adapters/management-gateway';
import { forEachBounded } from '../../lambdas/core/pool';
import { FAKE_CREDENTIALS } from './env';
import type { VirtualDeliveries } from './stack-features';

/** What the ceiling run measured. */
export interface Ceiling {
  readonly posts: number;
  readonly delivered: number;
  readonly elapsedMs: number;
  readonly perSecond: number;
}

/** Posts once to each of `ids` with `concurrency` in flight and measures deliveries per second. */
export async function measureCeiling(
  managementEndpoint: string,
  ids: readonly string[],
  deliveries: VirtualDeliveries,
  concurrency = 256,
): Promise<Ceiling> {
  // The client the handlers use (createManagementClient), so the ceiling has their per-post cost.
  const client = createManagementClient({
    endpoint: managementEndpoint,
    region: 'us-east-1',
    credentials: FAKE_CREDENTIALS,
    maxSockets: concurrency,
  });
  const data = Buffer.from(JSON.stringify({ type: 'message', id: 'ceiling', data: { probe: true }, ts: 0 }));
  deliveries.resetCounts();
  const started = performance.now();
  try {
    await forEachBounded(ids, concurrency, async (connectionId) => {
      try {
        await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
      } catch {
        // Counted by what arrived, below.
      }
    });
  } finally {
    client.destroy();
  }
  const elapsedMs = performance.now() - started;
  const delivered = deliveries.totalDeliveries;
  return { posts: ids.length, delivered, elapsedMs, perSecond: delivered / (elapsedMs / 1000) };
}
