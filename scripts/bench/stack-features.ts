/**
 * Small helpers over the local stack's publish endpoints and fan-out features (virtual
 * connections, the in-process shard queue, `GET /publish/<id>`) that the scenarios share.
 */
import { availableParallelism } from 'node:os';
import type { LocalStack } from '../../local/stack';
import { virtualConnections } from '../../test/support/virtual';
import type { VirtualConnections } from '../../test/support/virtual/connections';

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
  readonly workerTimeoutMs: number;
  readonly shardVisibilityTimeoutMs: number;
  /** The worker's environments spread over child processes (see {@link WORKER_PROCESSES}). */
  readonly processes: { readonly worker: number };
}

/**
 * The shard worker's timeout and the queue's visibility timeout as deployed (infra/push-stack.ts:
 * 5 minutes; infra/shard-fanout.ts: six worker timeouts). The local stack defaults to the same;
 * the bench states them anyway, so a change of the local defaults cannot change what it measures:
 * a visibility timeout shorter than a big shard job hands the job out again while its first run
 * is still going, and two runs deliver the same shard at once.
 */
export const DEPLOYED_WORKER_TIMEOUTS = {
  workerTimeoutMs: 5 * 60_000,
  shardVisibilityTimeoutMs: 6 * 5 * 60_000,
} as const;

/**
 * Processes the shard worker's environments run in during the fan-out scenarios: two per core,
 * so the workers use the cores the stack's own process leaves (each also waits on I/O). Measured
 * on 2 cores at 10k connections: 4 processes 3.4 s, 2 processes 4.5 s, all 16 environments in
 * the stack's process 6.0 s, one process per environment 7.5 s (per-process JIT and GC).
 */
export const WORKER_PROCESSES = 2 * availableParallelism();

/** `POST /publish` on the local stack: the status and the parsed answer. */
export async function postPublish(
  stack: LocalStack,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.httpUrl}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * uid pushes per batch publish in the cost model's batched case (scenario a): one backend call
 * carrying a push to each of this many uids, each uid with one connection.
 */
export const BATCH_PUSHES = 10;

/** A batch publish body: one uid push per uid, item `k` with id `${idPrefix}-${k}`. */
export function uidBatch(
  uids: readonly string[],
  idPrefix: string,
  data: unknown,
): { batch: { to: { uid: string }; data: unknown; id: string }[] } {
  return { batch: uids.map((uid, k) => ({ to: { uid }, data, id: `${idPrefix}-${k}` })) };
}

/**
 * Checks a batch of uid pushes answered as one connection each: HTTP 200 and one result per item,
 * in item order, each delivered once with nothing gone or failed. Throws with the answer
 * otherwise, so a batch that broke cannot pass for a fast one.
 */
export function expectUidBatchDelivered(
  answer: { status: number; body: Record<string, unknown> },
  ids: readonly string[],
): void {
  const results = answer.body.results;
  const fine =
    answer.status === 200 &&
    Array.isArray(results) &&
    results.length === ids.length &&
    results.every(
      (r: Record<string, unknown>, k) =>
        r.id === ids[k] && r.delivered === 1 && r.gone === 0 && r.failed === 0,
    );
  if (!fine) {
    throw new Error(`batch publish answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
  }
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

/**
 * Waits for a sharded publish to finish: until every one of `ids` got a delivery, or the publish's
 * status says every shard job is done (some deliveries failed for good), or `deadline` passes.
 * Resolves to the last status read.
 */
export async function waitForShardedPublish(
  stack: LocalStack,
  id: string,
  ids: readonly string[],
  deadline: number,
  onTick?: (delivered: number) => void,
): Promise<PublishStatusBody | undefined> {
  const deliveries = virtualConnections(stack);
  let status: PublishStatusBody | undefined;
  let nextCheck = 0;
  while (performance.now() < deadline) {
    onTick?.(deliveries.totalDeliveries);
    if (performance.now() >= nextCheck) {
      nextCheck = performance.now() + 500;
      if (deliveries.totalDeliveries >= ids.length && missedOf(deliveries, ids) === 0) break;
      status = await publishStatus(stack, id);
      if (status === undefined || status.status === 'done') break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  onTick?.(deliveries.totalDeliveries);
  return publishStatus(stack, id);
}
