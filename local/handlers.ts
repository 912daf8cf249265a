/**
 * Loads the real handler modules (the same files Lambda runs) into this process, after setting
 * the environment they read once at module scope.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HANDLER_NAMES, HANDLERS, type HostedHandlerId } from '../lambdas/shared/deployment';
import { environmentPool } from './environments';
import type { EnvChanges, HandlerSet, LambdaHandler } from './lambda-types';
import {
  type EnvironmentProcess,
  type ProcessPoolStats,
  startEnvironmentProcess,
} from './process-environment';

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
let loading: Promise<unknown> = Promise.resolve();

/** Handlers loaded under an environment, and the hold on that environment. */
export interface LoadedHandlers {
  readonly handlers: HandlerSet;
  /** Stops the process environments, then gives the environment back (see {@link holdEnvironment}). */
  readonly release: () => Promise<void>;
  /** Invocations and CPU of the functions run in processes, summed over their environments. */
  processStats(name: HostedHandlerId): ProcessPoolStats | undefined;
}

/** Options for {@link loadHandlers}. */
export interface LoadOptions {
  /** Execution environments per function (see environments.ts). @default 1 each */
  readonly environments?: Partial<Record<HostedHandlerId, number>>;
  /**
   * Functions whose environments live in child processes (process-environment.ts) instead of
   * this one, spread evenly over `count` processes: each process has its own event loop and CPU,
   * as Lambda gives each environment its own. @default none
   */
  readonly processes?: Partial<Record<HostedHandlerId, number>>;
}

function instanceQuery(instance: number, environment: number): string {
  const parts = [
    ...(instance === 0 ? [] : [`instance=${instance}`]),
    ...(environment === 0 ? [] : [`environment=${environment}`]),
  ];
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

async function importHandler(root: string, name: HostedHandlerId, query: string): Promise<LambdaHandler> {
  const url = pathToFileURL(join(root, HANDLERS[name])).href + query;
  const module = (await import(url)) as { handler?: unknown };
  if (typeof module.handler !== 'function') {
    throw new Error(`${HANDLERS[name]} does not export a handler function`);
  }
  return module.handler as LambdaHandler;
}

/**
 * Applies `changes` to the environment, then imports every hosted handler. Handlers read their
 * configuration at module scope, so a second stack in the same process needs fresh module
 * instances: those are imported with an `?instance=N` query (their dependencies stay shared; they
 * hold no configuration). A function with several execution environments gets one instance per
 * environment the same way (`&environment=K`). Loads are serialized, so two stacks starting at
 * once never import under each other's variables.
 *
 * @example
 * const { handlers, release } = await loadHandlers('/repo', { PUSH_CONNECTIONS_TABLE: 'Connections' });
 */
export function loadHandlers(
  root: string,
  changes: EnvChanges,
  options: LoadOptions = {},
): Promise<LoadedHandlers> {
  const next = loading.then(async () => {
    const releaseEnvironment = holdEnvironment(changes);
    const processes = new Map<HostedHandlerId, EnvironmentProcess[]>();
    const release = async () => {
      await Promise.all([...processes.values()].flat().map((p) => p.stop()));
      releaseEnvironment();
    };
    try {
      const instance = instances++;
      const all = await Promise.allSettled(
        LOCAL_HANDLERS.map(async (name) => {
          const count = options.environments?.[name] ?? 1;
          if (!Number.isInteger(count) || count < 1)
            throw new RangeError(`environments of ${name} must be a positive integer, got ${count}`);
          const processCount = options.processes?.[name];
          let loaded: LambdaHandler[];
          if (processCount === undefined) {
            loaded = await Promise.all(
              Array.from({ length: count }, (_, environment) =>
                importHandler(root, name, instanceQuery(instance, environment)),
              ),
            );
          } else {
            if (!Number.isInteger(processCount) || processCount < 1)
              throw new RangeError(`processes of ${name} must be a positive integer, got ${processCount}`);
            const spread = Math.min(processCount, count);
            const started: EnvironmentProcess[] = [];
            processes.set(name, started);
            // Settled, not raced: a failure must not leave sibling processes starting unseen.
            const settled = await Promise.allSettled(
              Array.from({ length: spread }, async (_, p) => {
                const child = await startEnvironmentProcess({
                  modulePath: join(root, HANDLERS[name]),
                  functionName: name,
                  // The variables just applied are in process.env; the child inherits them whole.
                  env: { ...process.env },
                  cwd: root,
                  environments: Math.floor(count / spread) + (p < count % spread ? 1 : 0),
                });
                started.push(child);
                return child.handlers;
              }),
            );
            const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
            if (failed !== undefined) throw failed.reason;
            loaded = settled.flatMap((r) => (r as PromiseFulfilledResult<readonly LambdaHandler[]>).value);
          }
          return [name, count === 1 ? (loaded[0] as LambdaHandler) : environmentPool(loaded)] as const;
        }),
      );
      const failedLoad = all.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failedLoad !== undefined) throw failedLoad.reason;
      const modules = all.map(
        (r) => (r as PromiseFulfilledResult<readonly [HostedHandlerId, LambdaHandler]>).value,
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
        release,
        processStats,
      };
    } catch (error) {
      await release();
      throw error;
    }
  });
  loading = next.catch(() => {});
  return next;
}
