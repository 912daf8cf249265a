/**
 * The local-stack features scenarios b and c stand on (virtual connections, the in-process shard
 * queue, `GET /publish/<id>`), looked up at run time. They land in `local/` separately; when one
 * is missing the scenario reports `blocked` and says what, instead of crashing or guessing.
 */
import type { LocalStack } from '../../local/stack';

/** A feature the scenario needs is not in this checkout's local stack. */
export class BlockedError extends Error {
  override readonly name = 'BlockedError';
  readonly code = 'blocked';
}

/** Delivery counts of the virtual connections. */
export interface VirtualDeliveries {
  /** Posts accepted by every virtual connection since the last reset. */
  readonly totalDeliveries: number;
  /** `performance.now()` of every delivery since the last reset, in arrival order. */
  deliveryTimes(): readonly number[];
  /** Posts accepted for one connection since the last reset. */
  deliveriesTo(connectionId: string): number;
  resetCounts(): void;
}

/** Options of `addVirtualConnections`. */
export interface VirtualOptions {
  readonly uid?: string | ((index: number) => string);
  readonly topics?: readonly string[];
}

/** The virtual-connection side of the emulator. */
export interface VirtualConnectionsFeature {
  add(count: number, options?: VirtualOptions): Promise<string[]>;
  readonly deliveries: VirtualDeliveries;
}

/** The stack's virtual connections; throws {@link BlockedError} when the stack has none. */
export function virtualConnections(stack: LocalStack): VirtualConnectionsFeature {
  const emulator = stack.emulator as unknown as {
    addVirtualConnections?: (count: number, options?: VirtualOptions) => Promise<string[]>;
    virtual?: VirtualDeliveries;
  };
  if (typeof emulator.addVirtualConnections !== 'function' || emulator.virtual === undefined) {
    throw new BlockedError(
      'stack.emulator.addVirtualConnections / stack.emulator.virtual are not in local/ yet (virtual connections)',
    );
  }
  const add = emulator.addVirtualConnections.bind(emulator);
  return { add: (count, options) => add(count, options), deliveries: emulator.virtual };
}

/** Waits for the shard queue to drain, when the stack has one. */
export async function shardQueueDrained(stack: LocalStack, timeoutMs: number): Promise<boolean> {
  const queue = (stack as unknown as { shardQueue?: { whenDrained?: (ms?: number) => Promise<void> } })
    .shardQueue;
  if (typeof queue?.whenDrained !== 'function') return false;
  await queue.whenDrained(timeoutMs);
  return true;
}

/** The stack options b and c set; older stacks ignore the ones they do not know. */
export interface FanOutStackOptions {
  readonly managementLatencyMs: number;
  readonly rateBudget: number;
  readonly shardThreshold: number;
  readonly workerConcurrency: number;
}

/** What `GET /publish/<id>` answers for a sharded publish. */
export interface PublishStatusBody {
  readonly status?: 'queued' | 'done';
  readonly shards?: number;
  readonly shardsDone?: number;
  readonly connections?: number;
  readonly delivered?: number;
  readonly gone?: number;
  readonly failed?: number;
}

/** Reads a sharded publish's status; undefined when the endpoint is missing (404). */
export async function publishStatus(stack: LocalStack, id: string): Promise<PublishStatusBody | undefined> {
  const res = await fetch(`${stack.httpUrl}/publish/${encodeURIComponent(id)}`);
  if (res.status === 404) {
    await res.arrayBuffer();
    return undefined;
  }
  return (await res.json()) as PublishStatusBody;
}
