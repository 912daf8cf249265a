/**
 * What stops a timed-out invocation. Lambda stops the sandbox of a function that outlives its
 * timeout: nothing more of that invocation runs, and no AWS call of it is ever sent. A handler in
 * this process cannot be stopped, so the next best is done: every invocation runs in a scope
 * (AsyncLocalStorage, so everything it schedules is in it too), and once the invocation is cut,
 * each HTTP request its code starts (every AWS call the SDK makes: DynamoDB, the Management API,
 * SQS) is destroyed before it is sent, failing with {@link InvocationCutError}. Requests already on
 * the wire at the cut still land, as they would on AWS.
 *
 * The hook is `http.Agent`'s `addRequest`, which a request calls synchronously in its caller's
 * context, before it has a socket: a request destroyed there is handed a socket that it gives back
 * unused, and fails with the error it was destroyed with. Node's `http.client.request.start`
 * diagnostics channel would need no patch, but on Node 20 it fires once the request is already
 * written. Requests with no agent (`agent: false`) are not seen; the SDK always has one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent, type ClientRequest } from 'node:http';

/** An AWS call made by an invocation after its function's timeout cut it. */
export class InvocationCutError extends Error {
  override readonly name = 'InvocationCutError';
  readonly code = 'invocation_cut';
  constructor(functionName: string, requestId: string) {
    super(
      `${functionName} invocation ${requestId} timed out and was cut: on AWS its sandbox is stopped, so this request is never sent`,
    );
  }
}

/** One invocation, as its code's context carries it. */
export interface InvocationScope {
  readonly functionName: string;
  readonly requestId: string;
  /** Whether the invocation's timeout cut it. */
  readonly cut: boolean;
  /** Calls `listener` once when the invocation is cut (at once when it already was). */
  onCut(listener: () => void): void;
}

/** An {@link InvocationScope} and what cuts it. */
export interface InvocationHandle {
  readonly scope: InvocationScope;
  /** Cuts the invocation: its later requests fail, its cut listeners run. Idempotent. */
  cut(): void;
}

const scopes = new AsyncLocalStorage<InvocationScope>();
let guarding = false;

type AddRequest = (this: Agent, request: ClientRequest, ...rest: unknown[]) => void;

function guard(): void {
  if (guarding) return;
  guarding = true;
  // Not in Node's typings, but part of Agent since its first release: every request through an
  // agent (https.Agent inherits it) comes here from its constructor.
  const prototype = Agent.prototype as unknown as { addRequest: AddRequest };
  const addRequest = prototype.addRequest;
  prototype.addRequest = function (request, ...rest) {
    const scope = scopes.getStore();
    if (scope?.cut === true) request.destroy(new InvocationCutError(scope.functionName, scope.requestId));
    addRequest.call(this, request, ...rest);
  };
}

/**
 * A new invocation scope, not yet cut.
 *
 * @example
 * const invocation = invocationScope('publish', requestId);
 * const result = runInInvocation(invocation.scope, () => handler(event, context));
 * setTimeout(() => invocation.cut(), timeoutMs);
 */
export function invocationScope(functionName: string, requestId: string): InvocationHandle {
  guard();
  const listeners: (() => void)[] = [];
  let cut = false;
  const scope: InvocationScope = {
    functionName,
    requestId,
    get cut() {
      return cut;
    },
    onCut(listener) {
      if (cut) listener();
      else listeners.push(listener);
    },
  };
  return {
    scope,
    cut() {
      if (cut) return;
      cut = true;
      for (const listener of listeners.splice(0)) listener();
    },
  };
}

/** Runs `task`, and everything it schedules, in `scope`. */
export function runInInvocation<T>(scope: InvocationScope, task: () => T): T {
  return scopes.run(scope, task);
}

/** The invocation the calling code belongs to, if any. */
export function currentInvocation(): InvocationScope | undefined {
  return scopes.getStore();
}
