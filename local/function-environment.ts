/**
 * Each function's own `process.env`, in one process. Lambda gives every function an environment
 * holding its variables and nothing else; the local stack runs several functions in one Node
 * process, whose `process.env` is a single object. So `process.env` becomes a view: code running
 * inside a function (its module's top level while it is imported, and every invocation, with
 * everything they schedule, through AsyncLocalStorage) reads and writes that function's variables
 * only; everything else reads the process's own. The SDK resolves region and credentials lazily,
 * at a client's first request, inside an invocation: it finds the function's own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** A function's variables: the whole environment its code sees. */
export type FunctionVariables = Record<string, string>;

const scope = new AsyncLocalStorage<FunctionVariables>();
let processEnv: NodeJS.ProcessEnv | undefined;

function variables(): Record<string, string | undefined> {
  return scope.getStore() ?? (processEnv as NodeJS.ProcessEnv);
}

/**
 * Replaces `process.env` with the view, once per process. The process's own variables stay in
 * the original object, which code outside any function keeps reading and writing through it.
 */
export function installFunctionEnvironments(): void {
  if (processEnv !== undefined) return;
  processEnv = process.env;
  // The target is an empty object, so the proxy invariants never pin a key of either side.
  process.env = new Proxy({} as NodeJS.ProcessEnv, {
    get: (_, key) => (typeof key === 'string' ? variables()[key] : undefined),
    has: (_, key) => typeof key === 'string' && variables()[key] !== undefined,
    ownKeys: () => Object.keys(variables()),
    getOwnPropertyDescriptor: (_, key) => {
      const value = typeof key === 'string' ? variables()[key] : undefined;
      return value === undefined
        ? undefined
        : { value, writable: true, enumerable: true, configurable: true };
    },
    set: (_, key, value) => {
      if (typeof key !== 'string') return false;
      // As Node's own process.env does: every value is stored as a string.
      variables()[key] = String(value);
      return true;
    },
    defineProperty: (_, key, descriptor) => {
      if (typeof key !== 'string') return false;
      variables()[key] = String(descriptor.value);
      return true;
    },
    deleteProperty: (_, key) => {
      if (typeof key === 'string') delete variables()[key];
      return true;
    },
  });
}

/**
 * Runs `task` (and everything it schedules) with `process.env` showing `env` only.
 *
 * @example
 * const result = await inFunctionEnvironment({ PUSH_CONNECTIONS_TABLE: 'Connections' }, () => handler(event, context));
 */
export function inFunctionEnvironment<T>(env: FunctionVariables, task: () => T): T {
  installFunctionEnvironments();
  return scope.run(env, task);
}
