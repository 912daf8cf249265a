/**
 * The sharded fan-out's plumbing as deployed (infra/shard-fanout.ts), in process: the shard queue
 * with its dead-letter queue and redrive policy, and the event source that runs the real
 * `lambdas/worker.ts` on batches as the template's event source mapping sets them, at most
 * `workerConcurrency` at once.
 */
import type { SQSEvent } from 'aws-lambda';
import type { LocalFunctions } from './functions';
import type { Logger } from './logger';
import type { ProcessPoolStats } from './process-environment';
import { SqsEventSource, type SqsEventSourceSettings, type SqsEventSourceStats } from './queue/event-source';
import { LocalSqsQueue, type SqsMessage, type SqsQueueCounts } from './queue/sqs-queue';

/** Names of the two queues; any name would do, these say what they hold. */
export const SHARD_QUEUE_NAME = 'push-shard-jobs';
export const SHARD_DLQ_NAME = 'push-shard-jobs-dlq';

/** Options for {@link createShardQueue}. */
export interface ShardQueueOptions {
  readonly functions: LocalFunctions;
  /** `http://127.0.0.1:PORT`: queue URLs live on the stack's own port. */
  readonly origin: string;
  readonly region: string;
  readonly accountId: string;
  /** Worker invocations at once: the event source's maximum concurrency. */
  readonly workerConcurrency: number;
  readonly visibilityTimeoutMs: number;
  readonly maxReceiveCount: number;
  /** The worker's event source mapping: batch size, batching window, partial batch responses. */
  readonly eventSource: SqsEventSourceSettings;
  readonly logger: Logger;
  /** The worker's invocations and CPU when its environments are processes. */
  readonly workerProcessStats?: () => ProcessPoolStats | undefined;
}

/** The shard queue as tests and the bench see it (`stack.shardQueue`). */
export interface LocalShardQueue {
  /** `PUSH_SHARD_QUEUE_URL`: `http://127.0.0.1:PORT/000000000000/push-shard-jobs`. */
  readonly url: string;
  readonly arn: string;
  /** The dead-letter queue's URL (SendMessage works on it too). */
  readonly deadLetterUrl: string;
  /** How long a received job stays hidden; a failed job comes back after it. Changeable. */
  visibilityTimeoutMs: number;
  /** Receives before a job moves to the dead-letter queue. Changeable. */
  maxReceiveCount: number;
  /** How the worker's event source batches jobs and reads its answers, as the template says. */
  readonly eventSource: SqsEventSourceSettings;
  /** The queue's messages, the dead-letter queue's size, and the worker's invocations. */
  readonly stats: {
    readonly queue: SqsQueueCounts & { readonly sent: number; readonly deleted: number };
    readonly deadLetters: number;
    readonly worker: SqsEventSourceStats & {
      readonly concurrencyLimit: number;
      /** Present when each worker environment is a process: CPU the invocations used there. */
      readonly processes?: ProcessPoolStats;
    };
  };
  /** The jobs in the dead-letter queue, oldest first, with their receive counts. */
  deadLetters(): SqsMessage[];
  /**
   * SQS's ChangeMessageVisibility for a received job (its `receiptHandle` is in the worker's
   * event): `0` hands it out again at once. Tests use it to retry a failed job now instead of
   * after the backoff the worker set (or a visibility timeout later), so a slow machine cannot make
   * two runs overlap. False when the handle is stale. The worker sets its backoff over the SQS
   * endpoint, as on AWS, spread over the template's `maxReceiveCount`, which a change of
   * {@link LocalShardQueue.maxReceiveCount} here does not tell it.
   */
  changeVisibility(receiptHandle: string, timeoutMs: number): boolean;
  /**
   * Resolves once the queue is empty and no worker runs: every job finished or went to the
   * dead-letter queue. Rejects after `timeoutMs` with what is left.
   */
  whenDrained(timeoutMs?: number): Promise<void>;
}

/** The queues, the running event source, and the facade. */
export interface ShardQueue {
  readonly queues: readonly LocalSqsQueue[];
  readonly facade: LocalShardQueue;
  start(): void;
  stop(): Promise<void>;
}

/** Builds the shard queue, its dead-letter queue and the worker's event source (not started). */
export function createShardQueue(options: ShardQueueOptions): ShardQueue {
  const { region, accountId, origin } = options;
  const deadLetter = new LocalSqsQueue({ name: SHARD_DLQ_NAME, region, accountId, origin });
  const queue = new LocalSqsQueue({
    name: SHARD_QUEUE_NAME,
    region,
    accountId,
    origin,
    visibilityTimeoutMs: options.visibilityTimeoutMs,
    deadLetter: { queue: deadLetter, maxReceiveCount: options.maxReceiveCount },
  });
  const { batchSize, batchingWindowMs, reportBatchItemFailures } = options.eventSource;
  const source = new SqsEventSource({
    queue,
    concurrency: options.workerConcurrency,
    batchSize,
    batchingWindowMs,
    reportBatchItemFailures,
    region,
    logger: options.logger,
    // An event source mapping that meets a throttle keeps the batch and tries again.
    invoke: (event: SQSEvent) => options.functions.invoke('worker', event, { whenThrottled: 'wait' }),
  });
  const facade: LocalShardQueue = {
    url: queue.url,
    arn: queue.arn,
    deadLetterUrl: deadLetter.url,
    get visibilityTimeoutMs() {
      return queue.visibilityTimeoutMs;
    },
    set visibilityTimeoutMs(ms: number) {
      queue.visibilityTimeoutMs = ms;
    },
    get maxReceiveCount() {
      return queue.maxReceiveCount as number;
    },
    set maxReceiveCount(count: number) {
      queue.maxReceiveCount = count;
    },
    eventSource: { batchSize, batchingWindowMs, reportBatchItemFailures },
    get stats() {
      const { sent, deleted } = queue.totals;
      const processes = options.workerProcessStats?.();
      return {
        queue: { ...queue.counts(), sent, deleted },
        deadLetters: deadLetter.size,
        worker: {
          ...source.stats,
          concurrencyLimit: options.workerConcurrency,
          ...(processes === undefined ? {} : { processes }),
        },
      };
    },
    deadLetters: () => deadLetter.messages(),
    changeVisibility: (receiptHandle, timeoutMs) => queue.changeVisibility(receiptHandle, timeoutMs),
    whenDrained: (timeoutMs) => source.whenDrained(timeoutMs),
  };
  return {
    queues: [queue, deadLetter],
    facade,
    start: () => source.start(),
    stop: () => source.stop(),
  };
}
