/**
 * Lambda's SQS event source mapping, in process: it receives batches from a {@link LocalSqsQueue}
 * while fewer than `concurrency` invocations run, invokes the function with the SQS event, and
 * deletes the messages the function finished. A batch is as the mapping says: up to `batchSize`
 * messages, gathered for up to the batching window. A message it does not delete (the function
 * threw or timed out, or, with `reportBatchItemFailures`, listed it in `batchItemFailures`) comes
 * back when its visibility timeout ends, and after `maxReceiveCount` receives it moves to the
 * dead-letter queue.
 */
import type { SQSEvent } from 'aws-lambda';
import type { Logger } from '../logger';
import { failedMessages, sqsEvent } from './sqs-event';
import type { LocalSqsQueue, ReceivedMessage } from './sqs-queue';

/** What an event source mapping says about its batches, as the template sets them. */
export interface SqsEventSourceSettings {
  /** Messages per invocation at most: the mapping's `BatchSize` (1 to 10,000). */
  readonly batchSize: number;
  /**
   * How long a batch is gathered before the function is invoked with fewer than `batchSize`
   * messages: the mapping's `MaximumBatchingWindowInSeconds`, in ms. 0 invokes with what one
   * receive finds.
   */
  readonly batchingWindowMs: number;
  /**
   * Whether the mapping's `FunctionResponseTypes` holds `ReportBatchItemFailures`. Without it
   * Lambda does not read the function's answer: a return deletes the whole batch, whatever
   * `batchItemFailures` it lists.
   */
  readonly reportBatchItemFailures: boolean;
}

/** Options for {@link SqsEventSource}. */
export interface SqsEventSourceOptions extends SqsEventSourceSettings {
  readonly queue: LocalSqsQueue;
  /** Invokes the function; rejects when it threw or timed out. */
  readonly invoke: (event: SQSEvent) => Promise<unknown>;
  /** Invocations at once: the function's reserved concurrency (and the mapping's maxConcurrency). */
  readonly concurrency: number;
  readonly region: string;
  readonly logger: Logger;
}

/** Lambda's range for an SQS standard queue's `BatchSize`. */
const MAX_BATCH_SIZE = 10_000;

/** What the event source did. */
export interface SqsEventSourceStats {
  readonly invocations: number;
  readonly inFlight: number;
  readonly peakConcurrency: number;
  /** Messages deleted after a successful run. */
  readonly succeeded: number;
  /** Messages left for a retry (thrown, timed out, or reported in `batchItemFailures`). */
  readonly failed: number;
  /** Messages received and held for a batch that is still being gathered. */
  readonly gathering: number;
}

/**
 * Polls one queue for one function.
 *
 * @example
 * const source = new SqsEventSource({ queue, concurrency: 4, region, logger,
 *   batchSize: 1, batchingWindowMs: 0, reportBatchItemFailures: true,
 *   invoke: (event) => functions.invoke('worker', event) });
 * source.start();
 * await source.whenDrained();
 */
export class SqsEventSource {
  readonly #queue: LocalSqsQueue;
  readonly #invoke: (event: SQSEvent) => Promise<unknown>;
  readonly #concurrency: number;
  readonly #batchSize: number;
  readonly #batchingWindowMs: number;
  readonly #reportBatchItemFailures: boolean;
  readonly #region: string;
  readonly #logger: Logger;
  readonly #running = new Set<Promise<void>>();
  readonly #drainWaiters = new Set<() => void>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Received messages waiting for the batch to fill or its window to end. */
  #gathered = new Map<string, ReceivedMessage>();
  #windowTimer: NodeJS.Timeout | undefined;
  #wakeQueued = false;
  #stopped = true;
  #invocations = 0;
  #peak = 0;
  #succeeded = 0;
  #failed = 0;

  constructor(options: SqsEventSourceOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    const { batchSize, batchingWindowMs } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE)
      throw new RangeError(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}, got ${batchSize}`);
    if (!Number.isFinite(batchingWindowMs) || batchingWindowMs < 0)
      throw new RangeError(`batchingWindowMs must be a number of ms from 0, got ${batchingWindowMs}`);
    this.#queue = options.queue;
    this.#invoke = options.invoke;
    this.#concurrency = options.concurrency;
    this.#batchSize = batchSize;
    this.#batchingWindowMs = batchingWindowMs;
    this.#reportBatchItemFailures = options.reportBatchItemFailures;
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
      gathering: this.#gathered.size,
    };
  }

  /** Starts polling; messages already in the queue are picked up at once. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#unsubscribe = this.#queue.onMessage(() => this.#wake());
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
    clearTimeout(this.#windowTimer);
    // What was being gathered stays in flight and comes back after its visibility timeout, as
    // when a mapping is disabled.
    this.#gathered.clear();
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

  /**
   * Polls once for everything a synchronous burst of sends added (a SendMessageBatch adds its
   * entries one by one), so the batch is what a receive after the send would find.
   */
  #wake(): void {
    if (this.#wakeQueued) return;
    this.#wakeQueued = true;
    queueMicrotask(() => {
      this.#wakeQueued = false;
      this.#poll();
    });
  }

  #poll(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#running.size < this.#concurrency) {
      for (const message of this.#queue.receive(this.#batchSize - this.#gathered.size)) {
        // A message whose visibility timeout ended while it waited here is handed out again: the
        // batch keeps it once, with the new receive's handle.
        this.#gathered.delete(message.messageId);
        this.#gathered.set(message.messageId, message);
      }
      if (this.#gathered.size === 0) break;
      if (this.#gathered.size < this.#batchSize && this.#batchingWindowMs > 0) {
        // Lambda keeps gathering until the batch is full or the window, counted from the batch's
        // first message, ends.
        this.#windowTimer ??= setTimeout(() => this.#windowEnded(), this.#batchingWindowMs);
        break;
      }
      this.#launch();
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

  #windowEnded(): void {
    this.#windowTimer = undefined;
    if (this.#stopped) return;
    // Gathering only runs while a slot is free, and only this source fills the slots.
    if (this.#gathered.size > 0) this.#launch();
    this.#poll();
  }

  /** Invokes the function with the gathered batch. */
  #launch(): void {
    clearTimeout(this.#windowTimer);
    this.#windowTimer = undefined;
    const batch = [...this.#gathered.values()];
    this.#gathered.clear();
    const run = this.#run(batch).finally(() => {
      this.#running.delete(run);
      this.#poll();
    });
    this.#running.add(run);
    this.#peak = Math.max(this.#peak, this.#running.size);
  }

  async #run(batch: readonly ReceivedMessage[]): Promise<void> {
    this.#invocations++;
    const ids = batch.map((m) => m.messageId);
    let failed: ReadonlySet<string> | 'all';
    try {
      const result = await this.#invoke(sqsEvent(batch, this.#queue, this.#region));
      failed = this.#reportBatchItemFailures ? failedMessages(result, ids) : this.#unread(result, ids);
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

  /**
   * A return without `ReportBatchItemFailures`: Lambda does not read the answer, so the whole
   * batch succeeded. A function that still lists failures loses those messages, as it would on
   * AWS; the stack says so, since that is a mapping missing its response type.
   */
  #unread(result: unknown, ids: readonly string[]): ReadonlySet<string> {
    const failures = (result as { batchItemFailures?: unknown } | null | undefined)?.batchItemFailures;
    if (Array.isArray(failures) && failures.length > 0)
      this.#logger.warn(
        'the function answered batchItemFailures, but its event source mapping has no ReportBatchItemFailures: Lambda ignores them and deletes the whole batch',
        { queue: this.#queue.name, messageIds: ids },
      );
    return new Set();
  }
}
