/**
 * Small helpers over the local stack's fan-out features (virtual connections, the in-process
 * shard queue, `GET /publish/<id>`) that scenarios b and c share.
 */
import type { VirtualConnections } from '../../local/emulator/virtual-connections';
import type { LocalStack } from '../../local/stack';

/** The delivery counts of the virtual connections. */
export type VirtualDeliveries = Pick<
  VirtualConnections,
  'totalDeliveries' | 'deliveryTimes' | 'deliveriesTo' | 'resetCounts'
>;

/** The stack options b and c set, beyond the port. */
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

/**
 * Reads a sharded publish's status; undefined when the stack does not know the id (404). A request
 * that fails on the wire is tried again: under full CPU, fetch can reuse a keep-alive socket the
 * server has just closed.
 */
export async function publishStatus(stack: LocalStack, id: string): Promise<PublishStatusBody | undefined> {
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(`${stack.httpUrl}/publish/${encodeURIComponent(id)}`);
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
      continue;
    }
    if (res.status === 404) {
      await res.arrayBuffer();
      return undefined;
    }
    return (await res.json()) as PublishStatusBody;
  }
}

/** The time from `t0` to the last delivery's arrival, ms (NaN when nothing arrived). */
export function lastArrival(deliveries: VirtualDeliveries, t0: number): number {
  let last = Number.NaN;
  for (const at of deliveries.deliveryTimes()) if (!(at <= last)) last = at;
  return last - t0;
}

/** Connections among `ids` that got nothing since the last reset. */
export function missedOf(deliveries: VirtualDeliveries, ids: readonly string[]): number {
  let missed = 0;
  for (const id of ids) if (deliveries.deliveriesTo(id) === 0) missed++;
  return missed;
}
