/**
 * Loads the real handler modules (the same files Lambda runs), each under its own function's
 * environment (function-environment.ts): in this process, or in child processes that get exactly
 * that environment and a heap limit of the function's memory.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HANDLER_NAMES, HANDLERS, type HostedHandlerId } from '../lambdas/shared/deployment';
import { environmentPool } from './environments';
import { type FunctionVariables, inFunctionEnvironment } from './function-environment';
import type { EnvChanges, HandlerSet, LambdaHandler } from './lambda-types';
import {
  type EnvironmentProcess,
  type ProcessPoolStats,
  startEnvironmentProcess,
} from './process-environment';
import { runnableModule } from './runnable';
import { settleAll } from './settle';

/**
 * The handlers the local stack hosts: the WebSocket routes, the authorizer, publish, and the shard
 * worker that the in-process SQS event source invokes.
 */
export const LOCAL_HANDLERS = HANDLER_NAMES;

const held = { count: 0, original: new Map<string, string | undefined>() };

/**
 * Applies `changes` to `process.env` until the returned release function is called by every
 * holder. The SDK reads region and credentials lazily, at the first request, so the variables
 * must stay set while any stack runs; the originals come back when the last one stops.
 */
export function holdEnvironment(changes: EnvChanges): () => void {
  held.count++;
  for (const [key, value] of Object.entries(changes)) {
    if (!held.original.has(key)) held.original.set(key, process.env[key]);
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held.count--;
    if (held.count > 0) return;
    for (const [key, value] of held.original) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    held.original.clear();
  };
}

let instances = 0;

/** Handlers loaded under their environments, and what stops their processes. */
export interface LoadedHandlers {
  readonly handlers: HandlerSet;
  /**
   * Resolves once a function's first environment is imported (at once when loading was not
   * deferred), or rejects with why it could not be: its Init phase.
   */
  initialized(name: HostedHandlerId): Promise<void>;
  /**
   * Starts every deferred import now, in the background (a failure goes to `onInitFailed`), so
   * that first invocations seldom wait.
   */
  warm(): void;
  /** Stops the process environments. */
  readonly release: () => Promise<void>;
  /** Invocations and CPU of the functions run in processes, summed over their environments. */
  processStats(name: HostedHandlerId): ProcessPoolStats | undefined;
}

/** How one function is loaded. */
export interface FunctionLoad {
  /** Its whole environment: what its code finds in `process.env`, and nothing else. */
  readonly environment: FunctionVariables;
  /**
   * Execution environments (module instances) it may have at once. The first is loaded at start,
   * the others when concurrent invocations need them, as Lambda cold-starts a new environment.
   * @default 1: concurrent invocations share one instance
   */
  readonly environments?: number;
  /** Its memory: the heap limit of its child processes (`--max-old-space-size`), which also sizes their semi-space. */
  readonly memorySizeMb: number;
  /**
   * Run its environments in this many child processes instead of this one: each process has its
   * own event loop and CPU, as Lambda gives each environment its own. @default in process
   */
  readonly processes?: number;
}

function instanceQuery(instance: number, environment: number): string {
  const parts = [
    ...(instance === 0 ? [] : [`instance=${instance}`]),
    ...(environment === 0 ? [] : [`environment=${environment}`]),
  ];
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/**
 * One in-process environment: a fresh module instance (`query` makes the URL unique) imported
 * under its own copy of the function's variables, whose invocations run under them too.
 *
 * @example
 * const handler = await importEnvironment('/repo/lambdas/connect.ts', '?instance=1', variables);
 */
export async function importEnvironment(
  modulePath: string,
  query: string,
  variables: FunctionVariables,
): Promise<LambdaHandler> {
  const own = { ...variables };
  const url = pathToFileURL(modulePath).href + query;
  const module = (await inFunctionEnvironment(own, () => import(url))) as { handler?: unknown };
  if (typeof module.handler !== 'function') {
    throw new Error(`${modulePath} does not export a handler function`);
  }
  const handler = module.handler as LambdaHandler;
  return (event, context) => inFunctionEnvironment(own, () => handler(event, context));
}

function positive(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}

/**
 * Imports every hosted handler, each under its own environment. Handlers read their
 * configuration at module scope, so each environment (and each stack in the same process) is a
 * fresh module instance, imported with an `?instance=N&environment=K` query (their dependencies
 * stay shared; they hold no configuration).
 *
 * @example
 * const { handlers, release } = await loadHandlers('/repo', { connect: { environment: { PUSH_CONNECTIONS_TABLE: 'Connections' }, memorySizeMb: 256 }, ... });
 */
export async function loadHandlers(
  root: string,
  functions: Readonly<Record<HostedHandlerId, FunctionLoad>>,
  options: {
    /**
     * Import in-process functions only when asked (`initialized`, or `warm` for all), not
     * before resolving: the first invocation of each waits for its import, as Lambda runs a
     * function's Init phase on its first invocation. Child-process environments are always
     * started first.
     * @default false
     */
    readonly deferred?: boolean;
    /** Told when a deferred import started by `warm` fails; the function's invocations fail with it too. */
    readonly onInitFailed?: (name: HostedHandlerId, error: unknown) => void;
  } = {},
): Promise<LoadedHandlers> {
  const instance = instances++;
  /** Each in-process function's Init: its first import, started on first call. */
  const inits = new Map<HostedHandlerId, () => Promise<void>>();
  const processes = new Map<HostedHandlerId, EnvironmentProcess[]>();
  const release = async () => {
    await Promise.all([...processes.values()].flat().map((p) => p.stop()));
  };
  try {
    const modules = await settleAll(
      LOCAL_HANDLERS.map(async (name) => {
        const load = functions[name];
        const count = positive(`environments of ${name}`, load.environments ?? 1);
        if (load.processes === undefined) {
          let next = 1;
          const modulePath = runnableModule(join(root, HANDLERS[name]));
          let loading: Promise<LambdaHandler> | undefined;
          const importFirst = () => {
            loading ??= importEnvironment(modulePath, instanceQuery(instance, 0), load.environment).then(
              (first) =>
                count === 1
                  ? first
                  : environmentPool([first], count, () =>
                      importEnvironment(modulePath, instanceQuery(instance, next++), load.environment),
                    ),
            );
            return loading;
          };
          if (options.deferred !== true) {
            const handler = await importFirst();
            inits.set(name, async () => {});
            return [name, handler] as const;
          }
          inits.set(name, async () => {
            await importFirst();
          });
          const deferred: LambdaHandler = async (event, context) => (await importFirst())(event, context);
          return [name, deferred] as const;
        }
        const spread = Math.min(positive(`processes of ${name}`, load.processes), count);
        const started: EnvironmentProcess[] = [];
        processes.set(name, started);
        // Settled, not raced: a failure must not leave sibling processes starting unseen.
        const loaded = (
          await settleAll(
            Array.from({ length: spread }, async (_, p) => {
              const child = await startEnvironmentProcess({
                modulePath: runnableModule(join(root, HANDLERS[name])),
                functionName: name,
                env: load.environment,
                heapMb: load.memorySizeMb,
                cwd: root,
                environments: Math.floor(count / spread) + (p < count % spread ? 1 : 0),
              });
              started.push(child);
              return child.handlers;
            }),
          )
        ).flat();
        return [name, count === 1 ? (loaded[0] as LambdaHandler) : environmentPool(loaded)] as const;
      }),
    );
    const processStats = (name: HostedHandlerId): ProcessPoolStats | undefined => {
      const children = processes.get(name);
      if (children === undefined) return undefined;
      return {
        invocations: children.reduce((sum, child) => sum + child.stats.invocations, 0),
        cpuMs: children.reduce((sum, child) => sum + child.stats.cpuMs, 0),
        restarts: children.reduce((sum, child) => sum + child.stats.restarts, 0),
        pids: children.map((child) => child.pid),
      };
    };
    return {
      handlers: Object.fromEntries(modules) as Record<HostedHandlerId, LambdaHandler>,
      initialized: (name) => inits.get(name)?.() ?? Promise.resolve(),
      warm: () => {
        for (const [name, init] of inits)
          init().catch((error: unknown) => options.onInitFailed?.(name, error));
      },
      release,
      processStats,
    };
  } catch (error) {
    await release();
    throw error;
  }
}
