/**
 * Invokes the loaded handlers in-process, the way Lambda would call them: one event, a Lambda
 * `Context`, a timeout, and a bounded number of invocations in flight. There is no worker or cold
 * process per call; each handler module was imported once (see `handlers.ts`).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { concurrencyLimit } from '../lambdas/core/pool';
import type { HostedHandlerId } from '../lambdas/shared/deployment';
import { lambdaContext } from './lambda-context';
import type { HandlerSet, LambdaHandler } from './lambda-types';
import type { Logger } from './logger';

/** What an invocation observer sees once the invocation settles. */
export interface InvocationRecord {
  readonly functionName: HostedHandlerId;
  readonly event: unknown;
  /** The handler's return value, when it returned. */
  readonly result?: unknown;
  /** What the handler threw (or the timeout), when it failed. */
  readonly error?: unknown;
  readonly durationMs: number;
}

/** Thrown when a handler outlives its timeout (API Gateway's 29 s integration timeout, by default). */
export class InvocationTimeoutError extends Error {
  override readonly name = 'InvocationTimeoutError';
  readonly code = 'invocation_timeout';
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName} did not finish within ${timeoutMs} ms`);
  }
}

/** Options for {@link LocalFunctions}. */
export interface LocalFunctionsOptions {
  /** Invocations in flight at once, over every function. @default 64 */
  readonly concurrency?: number;
  /** @default 29_000 (API Gateway's integration timeout) */
  readonly timeoutMs?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  readonly logger: Logger;
}

/** Invocation counters, for tests and the load check. */
export interface InvocationStats {
  readonly invocations: number;
  readonly inFlight: number;
  readonly peakConcurrency: number;
  readonly concurrencyLimit: number;
}

/**
 * The local "Lambda service": bounded, observable, overridable invocations.
 *
 * @example
 * const result = await functions.invoke('publish', { to: { uid: 'u1' }, data: 1 });
 */
export class LocalFunctions {
  readonly #handlers: HandlerSet;
  readonly #overrides = new Map<HostedHandlerId, LambdaHandler>();
  readonly #observers = new Set<(record: InvocationRecord) => void>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #limit: <R>(task: () => Promise<R>) => Promise<R>;
  readonly #concurrency: number;
  readonly #timeoutMs: number;
  readonly #region: string;
  readonly #accountId: string;
  readonly #logger: Logger;
  #invocations = 0;
  #inFlight = 0;
  #peak = 0;

  constructor(handlers: HandlerSet, options: LocalFunctionsOptions) {
    this.#handlers = handlers;
    this.#concurrency = options.concurrency ?? 64;
    this.#limit = concurrencyLimit(this.#concurrency);
    this.#timeoutMs = options.timeoutMs ?? 29_000;
    this.#region = options.region ?? 'us-east-1';
    this.#accountId = options.accountId ?? '000000000000';
    this.#logger = options.logger;
  }

  /** The ARN a function would have in AWS (used in events and error messages). */
  arnOf(name: string): string {
    return `arn:aws:lambda:${this.#region}:${this.#accountId}:function:${name}`;
  }

  get stats(): InvocationStats {
    return {
      invocations: this.#invocations,
      inFlight: this.#inFlight,
      peakConcurrency: this.#peak,
      concurrencyLimit: this.#concurrency,
    };
  }

  /**
   * Replaces one handler until the returned function is called. For tests of behaviour the real
   * handlers never show (an authorizer that denies with a policy, or throws something else).
   */
  override(name: HostedHandlerId, handler: LambdaHandler): () => void {
    this.#overrides.set(name, handler);
    return () => {
      if (this.#overrides.get(name) === handler) this.#overrides.delete(name);
    };
  }

  /** Calls `listener` after every invocation settles; returns the unsubscribe function. */
  onInvoke(listener: (record: InvocationRecord) => void): () => void {
    this.#observers.add(listener);
    return () => this.#observers.delete(listener);
  }

  /**
   * Invokes `name` with `event` and resolves to its return value. Rejects with what the handler
   * threw, or with {@link InvocationTimeoutError}; the slot stays taken until the handler really
   * settles, so a slow handler still counts against the concurrency bound.
   */
  async invoke(
    name: HostedHandlerId,
    event: unknown,
    options: { timeoutMs?: number; requestId?: string } = {},
  ): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    // The slot is held until the handler settles, past a timeout too, as Lambda counts it.
    // Wrapped: resolving with the promise itself would adopt its outcome instead of handing it over.
    const { run } = await new Promise<{ run: Promise<unknown> }>((begun) => {
      void this.#limit(async () => {
        this.#inFlight++;
        this.#peak = Math.max(this.#peak, this.#inFlight);
        this.#invocations++;
        const handler = this.#overrides.get(name) ?? this.#handlers[name];
        const context = this.#context(name, timeoutMs, options.requestId ?? randomUUID());
        const running = (async () => handler(event, context))();
        begun({ run: running });
        await running.then(
          () => {},
          () => {},
        );
        this.#inFlight--;
      });
    });
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new InvocationTimeoutError(name, timeoutMs)), timeoutMs);
    });
    try {
      const result = await Promise.race([run, timeout]);
      this.#notify({ functionName: name, event, result, durationMs: performance.now() - started });
      return result;
    } catch (error) {
      this.#notify({ functionName: name, event, error, durationMs: performance.now() - started });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Invokes without waiting, as Lambda's `Event` invocation type and SNS do. A failure is logged:
   * AWS would retry twice and then hand the event to the function's DLQ.
   */
  invokeAsync(name: HostedHandlerId, event: unknown, options: { requestId?: string } = {}): void {
    const run = this.invoke(name, event, options)
      .catch((error: unknown) => {
        this.#logger.error('async invocation failed (AWS would retry it, then send it to the DLQ)', {
          function: name,
          error: error instanceof Error ? error.message : String(error),
        });
      })
      .finally(() => this.#pending.delete(run));
    this.#pending.add(run);
  }

  /** Waits for async invocations still running, at most `timeoutMs`. */
  async drain(timeoutMs = 5_000): Promise<void> {
    if (this.#pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#pending]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #notify(record: InvocationRecord): void {
    for (const observer of this.#observers) {
      try {
        observer(record);
      } catch (error) {
        this.#logger.warn('invocation observer threw', { error: String(error) });
      }
    }
  }

  #context(name: HostedHandlerId, timeoutMs: number, awsRequestId: string): Context {
    return lambdaContext({
      functionName: name,
      invokedFunctionArn: this.arnOf(name),
      memoryLimitInMB: '1024',
      awsRequestId,
      deadline: Date.now() + timeoutMs,
      logStreamName: 'local',
    });
  }
}
