/**
 * Lambda's SQS event source mapping, in process: it receives batches from a {@link LocalSqsQueue}
 * while fewer than `concurrency` invocations run, invokes the function with the SQS event, and
 * deletes the messages the function finished. A message it does not delete (the function threw,
 * timed out, or listed it in `batchItemFailures`) comes back when its visibility timeout ends,
 * and after `maxReceiveCount` receives it moves to the dead-letter queue.
 */
import type { SQSEvent } from 'aws-lambda';
import type { Logger } from '../logger';
import { failedMessages, sqsEvent } from './sqs-event';
import type { LocalSqsQueue, ReceivedMessage } from './sqs-queue';

/** Options for {@link SqsEventSource}. */
export interface SqsEventSourceOptions {
  readonly queue: LocalSqsQueue;
  /** Invokes the function; rejects when it threw or timed out. */
  readonly invoke: (event: SQSEvent) => Promise<unknown>;
  /** Invocations at once: the function's reserved concurrency (and the mapping's maxConcurrency). */
  readonly concurrency: number;
  /** @default 1 (one shard job per invocation, as deployed) */
  readonly batchSize?: number;
  readonly region: string;
  readonly logger: Logger;
}

/** What the event source did. */
export interface SqsEventSourceStats {
  readonly invocations: number;
  readonly inFlight: number;
  readonly peakConcurrency: number;
  /** Messages deleted after a successful run. */
  readonly succeeded: number;
  /** Messages left for a retry (thrown, timed out, or reported in `batchItemFailures`). */
  readonly failed: number;
}

/**
 * Polls one queue for one function.
 *
 * @example
 * const source = new SqsEventSource({ queue, concurrency: 4, region, logger,
 *   invoke: (event) => functions.invoke('worker', event) });
 * source.start();
 * await source.whenDrained();
 */
export class SqsEventSource {
  readonly #queue: LocalSqsQueue;
  readonly #invoke: (event: SQSEvent) => Promise<unknown>;
  readonly #concurrency: number;
  readonly #batchSize: number;
  readonly #region: string;
  readonly #logger: Logger;
  readonly #running = new Set<Promise<void>>();
  readonly #drainWaiters = new Set<() => void>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #invocations = 0;
  #peak = 0;
  #succeeded = 0;
  #failed = 0;

  constructor(options: SqsEventSourceOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    const batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10)
      throw new RangeError(`batchSize must be an integer from 1 to 10, got ${batchSize}`);
    this.#queue = options.queue;
    this.#invoke = options.invoke;
    this.#concurrency = options.concurrency;
    this.#batchSize = batchSize;
    this.#region = options.region;
    this.#logger = options.logger;
  }

  get stats(): SqsEventSourceStats {
    return {
      invocations: this.#invocations,
      inFlight: this.#running.size,
      peakConcurrency: this.#peak,
      succeeded: this.#succeeded,
      failed: this.#failed,
    };
  }

  /** Starts polling; messages already in the queue are picked up at once. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#unsubscribe = this.#queue.onMessage(() => this.#poll());
    this.#poll();
  }

  /**
   * Resolves once the queue holds nothing (visible, delayed or in flight) and no invocation runs:
   * every job finished or went to the dead-letter queue. Rejects after `timeoutMs`.
   */
  whenDrained(timeoutMs = 30_000): Promise<void> {
    if (this.#drained()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#drainWaiters.delete(done);
        const { visible, inFlight, delayed } = this.#queue.counts();
        reject(
          new Error(
            `queue ${this.#queue.name} not drained after ${timeoutMs} ms ` +
              `(${visible} visible, ${inFlight} in flight, ${delayed} delayed, ${this.#running.size} running)`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#drainWaiters.add(done);
    });
  }

  /** Stops polling and waits (at most `graceMs`) for the invocations still running. */
  async stop(graceMs = 5_000): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    if (this.#running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #drained(): boolean {
    return this.#queue.size === 0 && this.#running.size === 0;
  }

  #poll(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#running.size < this.#concurrency) {
      const batch = this.#queue.receive(this.#batchSize);
      if (batch.length === 0) break;
      const run = this.#run(batch).finally(() => {
        this.#running.delete(run);
        this.#poll();
      });
      this.#running.add(run);
      this.#peak = Math.max(this.#peak, this.#running.size);
    }
    // Hidden messages (a retry's visibility timeout, a delay) wake the poller when they are due.
    const next = this.#queue.nextVisibleAt();
    if (next !== undefined && this.#running.size < this.#concurrency) {
      this.#timer = setTimeout(() => this.#poll(), Math.max(0, next - Date.now()) + 1);
    }
    if (this.#drained()) {
      for (const done of [...this.#drainWaiters]) done();
      this.#drainWaiters.clear();
    }
  }

  async #run(batch: readonly ReceivedMessage[]): Promise<void> {
    this.#invocations++;
    const ids = batch.map((m) => m.messageId);
    let failed: ReadonlySet<string> | 'all';
    try {
      failed = failedMessages(await this.#invoke(sqsEvent(batch, this.#queue, this.#region)), ids);
    } catch (error) {
      // A function error (or timeout) leaves the whole batch for a retry.
      this.#logger.warn('SQS-triggered invocation failed; its messages return after the visibility timeout', {
        queue: this.#queue.name,
        messageIds: ids,
        error: error instanceof Error ? error.message : String(error),
      });
      failed = 'all';
    }
    for (const message of batch) {
      if (failed === 'all' || failed.has(message.messageId)) {
        this.#failed++;
        continue;
      }
      if (this.#queue.delete(message.receiptHandle)) this.#succeeded++;
      else {
        // The run outlived the visibility timeout, so SQS already handed the message out again.
        this.#logger.warn('a message finished after its visibility timeout; it was redelivered meanwhile', {
          queue: this.#queue.name,
          messageId: message.messageId,
        });
      }
    }
  }
}
