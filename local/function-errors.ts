/**
 * How a local invocation fails, as Lambda names each way: a function error (what the handler
 * threw, or its timeout), a throttle, or a stack that is stopping; and the error payload Lambda
 * reports for a function error, in an Invoke's answer and in an asynchronous failure record alike.
 */
import type { HostedHandlerId } from '../lambdas/shared/deployment';

/**
 * A handler that outlived its function's timeout. Lambda ends the invocation with an error of
 * type `Sandbox.Timedout` and this message; callers see it as a function error.
 */
export class InvocationTimeoutError extends Error {
  override readonly name = 'InvocationTimeoutError';
  readonly code = 'invocation_timeout';
  /** Lambda's `errorType` for it. */
  readonly errorType = 'Sandbox.Timedout';
  constructor(requestId: string, timeoutMs: number) {
    super(`RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
  }
}

/** Why Lambda refused to start an invocation, as its `TooManyRequestsException` names it. */
export type ThrottleReason =
  | 'ReservedFunctionConcurrentInvocationLimitExceeded'
  | 'ConcurrentInvocationLimitExceeded';

/** An invocation refused because the function (or the account) ran out of concurrency. */
export class InvocationThrottledError extends Error {
  override readonly name = 'InvocationThrottledError';
  readonly code = 'throttled';
  constructor(
    readonly functionName: HostedHandlerId,
    readonly reason: ThrottleReason,
  ) {
    super(`Rate Exceeded. (${functionName}: ${reason})`);
  }
}

/** An invocation asked of a stopped (or stopping) stack. */
export class FunctionsStoppedError extends Error {
  override readonly name = 'FunctionsStoppedError';
  readonly code = 'stack_stopping';
  constructor(functionName: HostedHandlerId) {
    super(`${functionName} was not invoked: the local stack is stopping`);
  }
}

/** The payload Lambda reports for a function error: the error's type, message and trace. */
export interface FunctionErrorPayload {
  readonly errorType: string;
  readonly errorMessage: string;
  /** Absent for a timeout: the runtime is gone, so there is no stack. */
  readonly trace?: readonly string[];
}

/**
 * What Lambda reports for `error`, the way the Node.js runtime formats what a handler threw.
 *
 * @example
 * functionErrorPayload(new TypeError('broken')) // { errorType: 'TypeError', errorMessage: 'broken', trace: [...] }
 */
export function functionErrorPayload(error: unknown): FunctionErrorPayload {
  // The runtime is gone, so there is no stack: only Lambda's own type and message.
  if (error instanceof InvocationTimeoutError)
    return { errorType: error.errorType, errorMessage: error.message };
  const e = error instanceof Error ? error : new Error(String(error));
  return { errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
}
