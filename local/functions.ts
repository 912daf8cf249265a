/**
 * The local Lambda service: invokes the loaded handlers the way Lambda calls them, one event and a
 * Lambda `Context` per invocation, with each function's settings from the template: its timeout
 * (a late handler is cut with Lambda's `Sandbox.Timedout` error), its memory in the context, and
 * its reserved concurrency (an invocation over it is throttled with
 * `ReservedFunctionConcurrentInvocationLimitExceeded`, as Lambda does). Functions without a
 * reservation share the account's unreserved concurrency, which throttles the same way. An
 * asynchronous invocation is retried on a function error as the function's EventInvokeConfig
 * says, and its failure record sent to its on-failure destination (async-invoke.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { HostedHandlerId } from '../lambdas/shared/deployment';
import { QUOTAS } from '../lambdas/shared/quotas';
import {
  ASYNC_INVOKE_DEFAULTS,
  AsyncInvokeQueue,
  type AsyncInvokeSettings,
  type FailureDestination,
} from './async-invoke';
import {
  FunctionsStoppedError,
  InvocationThrottledError,
  InvocationTimeoutError,
  type ThrottleReason,
} from './function-errors';
import { type InvocationHandle, invocationScope, runInInvocation } from './invocation-scope';
import { lambdaContext } from './lambda-context';
import type { HandlerSet, LambdaHandler } from './lambda-types';
import type { Logger } from './logger';

/** What an invocation observer sees once the invocation settles. */
export interface InvocationRecord {
  readonly functionName: HostedHandlerId;
  readonly event: unknown;
  /** The handler's return value, when it returned. */
  readonly result?: unknown;
  /** What the handler threw, the timeout, or the throttle, when it failed. */
  readonly error?: unknown;
  readonly durationMs: number;
}

/** One function's settings, as the template gives them. */
export interface FunctionSettings {
  /** Its name, as Lambda's context and ARNs carry it. */
  readonly functionName: string;
  readonly arn: string;
  readonly timeoutMs: number;
  readonly memorySizeMb: number;
  /** @default none: the function shares the account's unreserved concurrency */
  readonly reservedConcurrency?: number;
  /** What Lambda does when an asynchronous invocation fails. @default ASYNC_INVOKE_DEFAULTS, no destination */
  readonly asyncInvoke?: AsyncInvokeSettings;
}

/** Options for {@link LocalFunctions}. */
export interface LocalFunctionsOptions {
  /** Every hosted function's settings. */
  readonly settings: Readonly<Record<HostedHandlerId, FunctionSettings>>;
  /** The account's concurrency, reserved included. @default QUOTAS.lambdaAccountConcurrency (1,000) */
  readonly accountConcurrency?: number;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  readonly logger: Logger;
  /**
   * A function's Init phase: resolves once its module is imported, or rejects with why it
   * cannot be. An invocation waits for it after taking its slot and before its timeout starts,
   * as Lambda's Init phase is not part of the invocation's timeout. @default always initialized
   */
  readonly initialized?: (name: HostedHandlerId) => Promise<void>;
  /**
   * The on-failure destination an ARN from a function's `asyncInvoke` names.
   * @default none: an asynchronous invocation that fails on every attempt is discarded
   */
  readonly destination?: (arn: string) => FailureDestination | undefined;
  /**
   * How fast Lambda's asynchronous queue runs: its retry delays (1 and 2 minutes) and event ages
   * are multiplied by this. For tests only. @default 1
   */
  readonly asyncTimeScale?: number;
  /**
   * Most bytes of events the local asynchronous queue holds (async-invoke.ts). For tests only.
   * @default MAX_HELD_BYTES (64 MiB)
   */
  readonly asyncMaxHeldBytes?: number;
}

/** Invocation counters, for tests and the load check. */
export interface InvocationStats {
  readonly invocations: number;
  readonly inFlight: number;
  readonly peakConcurrency: number;
  /** The account's concurrency. */
  readonly concurrencyLimit: number;
  /** Invocations refused for want of concurrency. */
  readonly throttles: number;
}

/** One function's counters. */
export interface FunctionStats {
  readonly inFlight: number;
  readonly peakConcurrency: number;
  readonly throttles: number;
  /** Invocations cut by the function's timeout. */
  readonly timeouts: number;
}

/** What to do when no concurrency is left. */
export type WhenThrottled =
  /** Refuse at once, as a synchronous Invoke and API Gateway's integration see it. */
  | 'reject'
  /** Wait for a slot, as Lambda's asynchronous queue and an event source mapping retry. */
  | 'wait';

/** An invocation waiting for concurrency. */
interface Waiter {
  readonly name: HostedHandlerId;
  readonly start: () => void;
  /** The stack stopped before a slot came. */
  readonly refuse: (error: FunctionsStoppedError) => void;
}

/**
 * First in, first out, each end O(1): `Array.shift` moves every element, and a release used to
 * scan every waiter, so 40,000 throttled events took 10 s to drain.
 */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The first item, left in place. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Drop the taken front once it is most of the array, so memory follows what waits.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Empties the queue, and returns what was in it, in order. */
  drain(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}

/** The pool of slots a function's invocations share: its own reserved ones, or the account's unreserved. */
const UNRESERVED_POOL = '';

interface Counters {
  inFlight: number;
  peak: number;
  throttles: number;
  timeouts: number;
}

/**
 * The local "Lambda service": bounded, observable, overridable invocations.
 *
 * @example
 * const result = await functions.invoke('publish', { to: { uid: 'u1' }, data: 1 });
 */
export class LocalFunctions {
  readonly #handlers: HandlerSet;
  readonly #settings: Readonly<Record<HostedHandlerId, FunctionSettings>>;
  readonly #overrides = new Map<HostedHandlerId, LambdaHandler>();
  readonly #observers = new Set<(record: InvocationRecord) => void>();
  readonly #async: AsyncInvokeQueue;
  /** Invocations whose handler has not settled, cut ones included, and their handlers' promises. */
  readonly #running = new Map<InvocationHandle, Promise<unknown>>();
  #stopped = false;
  readonly #counters = new Map<HostedHandlerId, Counters>();
  /** Invocations waiting for a slot, in arrival order, per pool (see {@link UNRESERVED_POOL}). */
  readonly #waiting = new Map<string, Fifo<Waiter>>();
  readonly #accountConcurrency: number;
  readonly #unreservedLimit: number;
  readonly #accountId: string;
  readonly #region: string;
  readonly #logger: Logger;
  readonly #initialized: ((name: HostedHandlerId) => Promise<void>) | undefined;
  #invocations = 0;
  #throttles = 0;
  #inFlight = 0;
  #unreservedInFlight = 0;
  #peak = 0;

  constructor(handlers: HandlerSet, options: LocalFunctionsOptions) {
    this.#handlers = handlers;
    this.#settings = options.settings;
    this.#accountConcurrency = options.accountConcurrency ?? QUOTAS.lambdaAccountConcurrency;
    const reserved = Object.values(options.settings).reduce(
      (sum, s) => sum + (s.reservedConcurrency ?? 0),
      0,
    );
    // Lambda keeps 100 unreserved for the account; locally at least one, so a small test account works.
    this.#unreservedLimit = Math.max(1, this.#accountConcurrency - reserved);
    this.#accountId = options.accountId ?? '000000000000';
    this.#region = options.region ?? 'us-east-1';
    this.#logger = options.logger;
    this.#initialized = options.initialized;
    for (const name of Object.keys(options.settings) as HostedHandlerId[])
      this.#counters.set(name, { inFlight: 0, peak: 0, throttles: 0, timeouts: 0 });
    this.#async = new AsyncInvokeQueue({
      // A throttled attempt waits for concurrency, as Lambda's queue retries it; its event is
      // parsed from the queue's text only once it has a slot.
      attempt: (name, event, requestId) => this.#invoke(name, event, { requestId, whenThrottled: 'wait' }),
      settingsOf: (name) => ({
        arn: this.#settings[name].arn,
        asyncInvoke: this.#settings[name].asyncInvoke ?? {
          maximumRetryAttempts: ASYNC_INVOKE_DEFAULTS.maximumRetryAttempts,
          maximumEventAgeMs: ASYNC_INVOKE_DEFAULTS.maximumEventAgeSeconds * 1000,
        },
      }),
      ...(options.destination === undefined ? {} : { destination: options.destination }),
      ...(options.asyncTimeScale === undefined ? {} : { timeScale: options.asyncTimeScale }),
      ...(options.asyncMaxHeldBytes === undefined ? {} : { maxHeldBytes: options.asyncMaxHeldBytes }),
      logger: options.logger,
    });
  }

  /** The ARN of a hosted function, or the one AWS would give a function of that name. */
  arnOf(name: string): string {
    return (
      this.#settings[name as HostedHandlerId]?.arn ??
      `arn:aws:lambda:${this.#region}:${this.#accountId}:function:${name}`
    );
  }

  /** A hosted function's settings. */
  settingsOf(name: HostedHandlerId): FunctionSettings {
    return this.#settings[name];
  }

  get stats(): InvocationStats {
    return {
      invocations: this.#invocations,
      inFlight: this.#inFlight,
      peakConcurrency: this.#peak,
      concurrencyLimit: this.#accountConcurrency,
      throttles: this.#throttles,
    };
  }

  /** One function's counters. */
  functionStats(name: HostedHandlerId): FunctionStats {
    const c = this.#counter(name);
    return { inFlight: c.inFlight, peakConcurrency: c.peak, throttles: c.throttles, timeouts: c.timeouts };
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

  #counter(name: HostedHandlerId): Counters {
    const counter = this.#counters.get(name);
    if (counter === undefined) throw new RangeError(`no function ${name} is hosted`);
    return counter;
  }

  /** Why `name` cannot start now, or undefined when it can. */
  #throttleReason(name: HostedHandlerId): ThrottleReason | undefined {
    const reserved = this.#settings[name].reservedConcurrency;
    if (reserved !== undefined)
      return this.#counter(name).inFlight < reserved
        ? undefined
        : 'ReservedFunctionConcurrentInvocationLimitExceeded';
    return this.#unreservedInFlight < this.#unreservedLimit ? undefined : 'ConcurrentInvocationLimitExceeded';
  }

  #take(name: HostedHandlerId): void {
    const counter = this.#counter(name);
    counter.inFlight++;
    counter.peak = Math.max(counter.peak, counter.inFlight);
    if (this.#settings[name].reservedConcurrency === undefined) this.#unreservedInFlight++;
    this.#inFlight++;
    this.#peak = Math.max(this.#peak, this.#inFlight);
    this.#invocations++;
  }

  #poolOf(name: HostedHandlerId): string {
    return this.#settings[name].reservedConcurrency === undefined ? UNRESERVED_POOL : name;
  }

  #release(name: HostedHandlerId): void {
    this.#counter(name).inFlight--;
    if (this.#settings[name].reservedConcurrency === undefined) this.#unreservedInFlight--;
    this.#inFlight--;
    // The slot freed is of this function's pool: its waiters start in arrival order while the
    // pool has room. No other pool gained any.
    const waiting = this.#waiting.get(this.#poolOf(name));
    for (let next = waiting?.peek(); next !== undefined; next = waiting?.peek()) {
      if (this.#throttleReason(next.name) !== undefined) break;
      waiting?.shift();
      this.#take(next.name);
      next.start();
    }
  }

  /** Takes a slot for `name`, waiting or throwing when there is none. */
  async #admit(name: HostedHandlerId, whenThrottled: WhenThrottled): Promise<void> {
    if (this.#stopped) throw new FunctionsStoppedError(name);
    const reason = this.#throttleReason(name);
    if (reason === undefined) {
      this.#take(name);
      return;
    }
    if (whenThrottled === 'reject') {
      this.#counter(name).throttles++;
      this.#throttles++;
      throw new InvocationThrottledError(name, reason);
    }
    const pool = this.#poolOf(name);
    let waiting = this.#waiting.get(pool);
    if (waiting === undefined) {
      waiting = new Fifo<Waiter>();
      this.#waiting.set(pool, waiting);
    }
    const queue = waiting;
    await new Promise<void>((start, refuse) => queue.push({ name, start, refuse }));
  }

  /**
   * Invokes `name` with `event` and resolves to its return value. Rejects with what the handler
   * threw, with {@link InvocationTimeoutError} once the function's timeout passes, or with
   * {@link InvocationThrottledError} when there is no concurrency left (unless told to wait).
   * At the timeout the invocation is cut as Lambda stops its sandbox: its concurrency slot is
   * free again, and every AWS call its code still makes fails (invocation-scope.ts).
   */
  invoke(
    name: HostedHandlerId,
    event: unknown,
    options: { requestId?: string; whenThrottled?: WhenThrottled } = {},
  ): Promise<unknown> {
    return this.#invoke(name, () => event, options);
  }

  /**
   * {@link invoke}, with the event read by `readEvent` only once the invocation has its slot: the
   * asynchronous queue keeps an event as text, and one waiting for a slot holds no parsed copy.
   */
  async #invoke(
    name: HostedHandlerId,
    readEvent: () => unknown,
    options: { requestId?: string; whenThrottled?: WhenThrottled },
  ): Promise<unknown> {
    const started = performance.now();
    try {
      await this.#admit(name, options.whenThrottled ?? 'reject');
    } catch (error) {
      // Refused before it ran: the event is read only for an observer to see.
      if (this.#observers.size > 0)
        this.#notify({
          functionName: name,
          event: readEvent(),
          error,
          durationMs: performance.now() - started,
        });
      throw error;
    }
    const event = readEvent();
    if (this.#initialized !== undefined && this.#overrides.get(name) === undefined) {
      try {
        await this.#initialized(name);
        // The stack began stopping while the function initialized: it is not invoked.
        if (this.#stopped) throw new FunctionsStoppedError(name);
      } catch (error) {
        this.#release(name);
        this.#notify({ functionName: name, event, error, durationMs: performance.now() - started });
        throw error;
      }
    }
    const { timeoutMs, functionName } = this.#settings[name];
    const requestId = options.requestId ?? randomUUID();
    const handler = this.#overrides.get(name) ?? this.#handlers[name];
    const invocation = invocationScope(functionName, requestId);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#release(name);
    };
    const running = runInInvocation(invocation.scope, async () =>
      handler(event, this.#context(name, requestId)),
    );
    this.#running.set(invocation, running);
    void running.then(release, release).finally(() => this.#running.delete(invocation));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#counter(name).timeouts++;
        this.#logger.warn('function timed out', { function: functionName, requestId, timeoutMs });
        invocation.cut();
        release();
        reject(new InvocationTimeoutError(requestId, timeoutMs));
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([running, timeout]);
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
   * Invokes without waiting, as Lambda's `Event` invocation type and SNS do: a throttled event
   * waits for concurrency, as Lambda's own queue retries it, and a function error (the handler
   * threw or timed out) is retried with the same event and request id, then sent to the
   * function's on-failure destination, as its EventInvokeConfig says (async-invoke.ts).
   */
  invokeAsync(name: HostedHandlerId, event: unknown, options: { requestId?: string } = {}): void {
    if (this.#stopped) {
      this.#logger.warn('async invocation refused: the local stack is stopping', { function: name });
      return;
    }
    // An event past the local queue's bound is refused there, with an error log.
    this.#async.enqueue(name, event, options.requestId);
  }

  /**
   * Drops the asynchronous events waiting for a retry, and schedules none from now on: the first
   * thing a stopping stack does, so no retry falls due while its other parts are closing.
   */
  stopRetries(): void {
    this.#async.stop();
  }

  /**
   * Stops the service, first of the stack's parts, while the endpoints and DynamoDB its handlers
   * call are still up: new invocations (and those waiting for a slot) are refused with
   * {@link FunctionsStoppedError}; those in flight get `graceMs` to settle; the rest are cut, as
   * their sandboxes would be, so nothing they do later reaches an endpoint that is about to close.
   * Asynchronous events waiting for a retry are dropped, as nothing keeps Lambda's queue locally.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.#stopped = true;
    this.#async.stop();
    for (const waiting of this.#waiting.values()) {
      for (const waiter of waiting.drain()) waiter.refuse(new FunctionsStoppedError(waiter.name));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running.values(), this.#async.settled()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const invocation of this.#running.keys()) {
      this.#logger.warn('function still running at stop: cut', {
        function: invocation.scope.functionName,
        requestId: invocation.scope.requestId,
      });
      invocation.cut();
    }
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

  #context(name: HostedHandlerId, awsRequestId: string): Context {
    const settings = this.#settings[name];
    return lambdaContext({
      functionName: settings.functionName,
      invokedFunctionArn: settings.arn,
      memoryLimitInMB: String(settings.memorySizeMb),
      awsRequestId,
      deadline: Date.now() + settings.timeoutMs,
      logStreamName: 'local',
    });
  }
}
