/**
 * Lambda's queue for asynchronous invocations (`Event` invokes, SNS), as the Lambda developer guide
 * describes what it does on a function error (the handler threw, or timed out): it runs the same
 * event again, with the same request id, up to the function's `MaximumRetryAttempts` times, one
 * minute after the first attempt and two minutes after the second; it discards an event older
 * than `MaximumEventAgeInSeconds` instead of running it; and once it gives up it sends an
 * invocation record to the function's on-failure destination. The settings come from the
 * template's EventInvokeConfig (local/deployment/local-functions.ts); nothing here repeats one.
 */
import { randomUUID } from 'node:crypto';
import type { HostedHandlerId } from '../lambdas/shared/deployment';
import { type FunctionErrorPayload, functionErrorPayload } from './function-errors';
import type { Logger } from './logger';

/**
 * Lambda's waits before the retries of a failed asynchronous invocation: one minute between the
 * first two attempts, two minutes between the second and third (developer guide, "How Lambda
 * handles errors and retries with asynchronous invocation").
 */
export const ASYNC_RETRY_DELAYS_MS = [60_000, 120_000] as const;

/**
 * What Lambda does for a function with no EventInvokeConfig, or one that leaves a setting out:
 * two retries, and events kept up to six hours (the API's `MaximumEventAgeInSeconds` maximum).
 */
export const ASYNC_INVOKE_DEFAULTS = { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600 } as const;

/** One function's asynchronous invocation settings. */
export interface AsyncInvokeSettings {
  /** Runs after the first that fail before Lambda gives up: 0 to 2. */
  readonly maximumRetryAttempts: number;
  /** An event older than this is discarded instead of run again. */
  readonly maximumEventAgeMs: number;
  /** ARN of the on-failure destination. @default none: a failed event is discarded */
  readonly onFailure?: string;
}

/** Where failure records go: one SQS queue, as the local stack models it. */
export interface FailureDestination {
  /** The queue's name, for the log. */
  readonly name: string;
  /** Sends a record; throws when the destination refuses it (Lambda's `DestinationDeliveryFailures`). */
  send(body: string): void;
}

/** Why Lambda gave up on an event. */
export type FailureCondition = 'RetriesExhausted' | 'EventAgeExceeded';

/**
 * The invocation record Lambda sends to an on-failure destination (developer guide, "Capturing
 * records of Lambda asynchronous invocations"); an SQS destination gets it as the message body.
 */
export interface FailureRecord {
  readonly version: '1.0';
  /** ISO 8601, when Lambda gave up. */
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    /** The function's ARN with the version that ran, `…:function:name:$LATEST`. */
    readonly functionArn: string;
    readonly condition: FailureCondition;
    /** Attempts made. */
    readonly approximateInvokeCount: number;
  };
  /** The event, as it was sent. */
  readonly requestPayload: unknown;
  readonly responseContext: {
    readonly statusCode: 200;
    readonly executedVersion: '$LATEST';
    readonly functionError: 'Unhandled';
  };
  /** The last attempt's error. */
  readonly responsePayload: FunctionErrorPayload;
}

/** What {@link failureRecord} is built from. */
export interface FailureRecordInput {
  readonly requestId: string;
  /** The function's unqualified ARN. */
  readonly functionArn: string;
  readonly condition: FailureCondition;
  readonly attempts: number;
  readonly event: unknown;
  /** What the last attempt failed with. */
  readonly error: unknown;
  readonly at: Date;
}

/**
 * The record Lambda sends on giving up on an event.
 *
 * @example
 * failureRecord({ requestId, functionArn, condition: 'RetriesExhausted', attempts: 3, event, error, at: new Date() })
 */
export function failureRecord(input: FailureRecordInput): FailureRecord {
  return {
    version: '1.0',
    timestamp: input.at.toISOString(),
    requestContext: {
      requestId: input.requestId,
      functionArn: `${input.functionArn}:$LATEST`,
      condition: input.condition,
      approximateInvokeCount: input.attempts,
    },
    requestPayload: input.event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: functionErrorPayload(input.error),
  };
}

/** The wait before the retry that follows attempt `attempt` (1-based). */
export function retryDelayMs(attempt: number): number {
  return ASYNC_RETRY_DELAYS_MS[Math.min(attempt, ASYNC_RETRY_DELAYS_MS.length) - 1] as number;
}

/** Options for {@link AsyncInvokeQueue}. */
export interface AsyncInvokeQueueOptions {
  /**
   * Runs one attempt: resolves when the handler returned, rejects with its function error.
   * `event` reads the event (freshly parsed from the text the queue keeps): call it once the
   * attempt has its concurrency slot, so an attempt waiting for one holds no parsed copy.
   */
  readonly attempt: (name: HostedHandlerId, event: () => unknown, requestId: string) => Promise<unknown>;
  /** A function's ARN and asynchronous invocation settings. */
  readonly settingsOf: (name: HostedHandlerId) => {
    readonly arn: string;
    readonly asyncInvoke: AsyncInvokeSettings;
  };
  /** The destination an ARN names. @default none: every failed event is discarded */
  readonly destination?: (arn: string) => FailureDestination | undefined;
  /**
   * How fast the queue's clock runs against the real one: its retry delays and event ages are
   * multiplied by this, so 0.01 makes Lambda's one and two minutes 0.6 and 1.2 s, and an hour's
   * event age 36 s. For tests; a deployment has no such setting. @default 1
   */
  readonly timeScale?: number;
  /**
   * Most bytes of events the queue holds at once (their JSON text), from when one is queued until
   * it leaves the queue: waiting for a concurrency slot, running, or waiting for a retry. Lambda's
   * queue lives in the service, but this one lives in the stack's heap: a backend sending events
   * faster than a throttled function takes them, or failing events faster than their retries fall
   * due, would otherwise grow it until the stack dies. An event that does not fit is refused when
   * it is queued, with an error log, and never runs. @default {@link MAX_HELD_BYTES}
   */
  readonly maxHeldBytes?: number;
  readonly logger: Logger;
}

/** The local queue's default bound on the events it holds: 64 MiB of their JSON text. */
export const MAX_HELD_BYTES = 64 * 1024 * 1024;

/** An event in the queue. */
interface QueuedEvent {
  readonly name: HostedHandlerId;
  /** The event as sent, only when it has no JSON text (see `enqueue`): it runs once, as it is. */
  event?: unknown;
  /**
   * The event's JSON text: each attempt (and the failure record) gets it freshly parsed, as Lambda
   * deserializes the payload it keeps for every attempt, so an attempt that changed its event does
   * not hand the change on; and text costs a fraction of the heap a parsed object of the same size
   * does.
   */
  text?: string;
  /** Bytes of `text` counted in the queue's `heldBytes` until the event leaves the queue; 0 once it has. */
  heldBytes: number;
  readonly requestId: string;
  /** `performance.now()` when it was queued. */
  readonly queuedAt: number;
  attempts: number;
}

/** The event an attempt (or the failure record) gets. */
function eventOf(queued: QueuedEvent): unknown {
  return queued.text === undefined ? queued.event : JSON.parse(queued.text);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Lambda's asynchronous invocation queue, in memory: it forgets its events when the stack stops.
 *
 * @example
 * const queue = new AsyncInvokeQueue({ attempt, settingsOf, destination, logger });
 * queue.enqueue('publish', event); // runs now; on a function error, again in 1 min, then 2 min
 */
export class AsyncInvokeQueue {
  readonly #options: AsyncInvokeQueueOptions;
  readonly #scale: number;
  /** Events waiting for their retry, by their timer. */
  readonly #waiting = new Map<NodeJS.Timeout, QueuedEvent>();
  /**
   * Bytes of the text of every event the queue holds: waiting for a concurrency slot, running, or
   * waiting for a retry.
   */
  #heldBytes = 0;
  /** Attempts running. */
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: AsyncInvokeQueueOptions) {
    const scale = options.timeScale ?? 1;
    if (!(Number.isFinite(scale) && scale > 0))
      throw new RangeError(`timeScale must be a positive number, got ${scale}`);
    this.#options = options;
    this.#scale = scale;
  }

  /** Events waiting for a retry. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Bytes of the events the queue holds (their JSON text): those waiting for a concurrency slot,
   * running, or waiting for a retry.
   */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Queues `event` for `name` and runs its first attempt at once (or as soon as the function has a
   * concurrency slot). The event is kept as its JSON text from here, as Lambda keeps the payload's
   * bytes: every attempt gets it freshly parsed, once its slot is granted. An event whose text
   * does not fit the queue's bound (`maxHeldBytes`, counting every event it holds) is refused with
   * an error log and never runs; returns whether it was queued.
   */
  enqueue(name: HostedHandlerId, event: unknown, requestId: string = randomUUID()): boolean {
    const queued: QueuedEvent = { name, requestId, queuedAt: performance.now(), attempts: 0, heldBytes: 0 };
    try {
      queued.text = JSON.stringify(event) ?? 'null';
    } catch {
      // Nested past what JSON.stringify can walk: it runs once as it is, and is not kept. Its size
      // cannot be counted either (Lambda would refuse it as a payload long before such depth).
      queued.event = event;
    }
    if (queued.text !== undefined) {
      const bytes = Buffer.byteLength(queued.text);
      const limit = this.#options.maxHeldBytes ?? MAX_HELD_BYTES;
      if (this.#heldBytes + bytes > limit) {
        this.#options.logger.error(
          `async invocation refused: not queued, since the local queue already holds ${this.#heldBytes} bytes of events (at most ${limit}; Lambda's own queue has no such bound)`,
          { function: name, requestId, bytes },
        );
        return false;
      }
      queued.heldBytes = bytes;
      this.#heldBytes += bytes;
    }
    this.#run(queued);
    return true;
  }

  /** The event leaves the queue: its bytes no longer count against the bound. */
  #release(queued: QueuedEvent): void {
    this.#heldBytes -= queued.heldBytes;
    queued.heldBytes = 0;
  }

  #run(queued: QueuedEvent): void {
    queued.attempts++;
    const running = this.#options
      .attempt(queued.name, () => eventOf(queued), queued.requestId)
      .then(
        () => this.#release(queued),
        (error: unknown) => {
          if (!this.#failed(queued, error)) this.#release(queued);
        },
      )
      .finally(() => this.#running.delete(running));
    this.#running.add(running);
  }

  /** Handles a failed attempt; returns whether the event stays queued for a retry. */
  #failed(queued: QueuedEvent, error: unknown): boolean {
    const fields = { function: queued.name, requestId: queued.requestId, error: errorText(error) };
    if (this.#stopped) {
      this.#options.logger.warn('async invocation failed while the stack stopped: not retried', fields);
      return false;
    }
    const { asyncInvoke } = this.#options.settingsOf(queued.name);
    const attempts = 1 + asyncInvoke.maximumRetryAttempts;
    if (queued.attempts >= attempts) {
      this.#giveUp(queued, 'RetriesExhausted', error);
      return false;
    }
    if (queued.text === undefined) {
      // Nested past what JSON.stringify can walk: Lambda would keep its bytes; nothing can here.
      this.#options.logger.error(
        'async invocation failed: its event cannot be kept for a retry, so it is lost',
        fields,
      );
      return false;
    }
    // Its bytes have counted against the bound since it was queued, and keep counting while it
    // waits for its retry: nothing new to check.
    const delayMs = retryDelayMs(queued.attempts) * this.#scale;
    this.#options.logger.warn(
      `async invocation failed (attempt ${queued.attempts} of ${attempts}), next in ${delayMs / 1000}s`,
      fields,
    );
    // Lambda discards an event that has grown too old by the time it would run again: its age when
    // the retry falls due, worked out now, since a timer may fire a fraction of a millisecond
    // before its delay by performance.now() (libuv's clock is whole milliseconds, read once a turn).
    const tooOld =
      performance.now() - queued.queuedAt + delayMs >= asyncInvoke.maximumEventAgeMs * this.#scale;
    const timer = setTimeout(() => {
      this.#waiting.delete(timer);
      if (tooOld) {
        this.#giveUp(queued, 'EventAgeExceeded', error);
        this.#release(queued);
      } else this.#run(queued);
    }, delayMs);
    this.#waiting.set(timer, queued);
    return true;
  }

  #giveUp(queued: QueuedEvent, condition: FailureCondition, error: unknown): void {
    const { arn, asyncInvoke } = this.#options.settingsOf(queued.name);
    const fields = { function: queued.name, requestId: queued.requestId, condition, error: errorText(error) };
    const why =
      condition === 'RetriesExhausted'
        ? `after ${queued.attempts} attempt${queued.attempts === 1 ? '' : 's'}`
        : `after ${queued.attempts} attempt${queued.attempts === 1 ? '' : 's'}, older than its maximum event age`;
    const destination =
      asyncInvoke.onFailure === undefined ? undefined : this.#options.destination?.(asyncInvoke.onFailure);
    if (destination === undefined) {
      this.#options.logger.error(
        `async invocation failed ${why}: discarded, no on-failure destination`,
        fields,
      );
      return;
    }
    const record = failureRecord({
      requestId: queued.requestId,
      functionArn: arn,
      condition,
      attempts: queued.attempts,
      event: eventOf(queued),
      error,
      at: new Date(),
    });
    try {
      destination.send(JSON.stringify(record));
    } catch (refused) {
      this.#options.logger.error(
        `async invocation failed ${why}: its failure record could not be sent to ${destination.name}, so it is lost`,
        { ...fields, refused: errorText(refused) },
      );
      return;
    }
    this.#options.logger.error(`async invocation failed: sent to ${destination.name} ${why}`, fields);
  }

  /**
   * Stops retrying: events waiting for a retry are dropped (and logged), as the stack forgets
   * them; an attempt that fails from now on is not retried. Events waiting for a concurrency slot
   * leave the queue when their attempt settles (the stopping service refuses them).
   */
  stop(): void {
    this.#stopped = true;
    for (const [timer, queued] of this.#waiting) {
      clearTimeout(timer);
      this.#options.logger.warn('async invocation waiting for a retry dropped at stop', {
        function: queued.name,
        requestId: queued.requestId,
        attempts: queued.attempts,
      });
      this.#release(queued);
    }
    this.#waiting.clear();
  }

  /** Resolves once every attempt running now has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }
}
