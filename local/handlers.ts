/**
 * Loads the real handler modules (the same files Lambda runs) into this process, after setting
 * the environment they read once at module scope.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { HANDLERS } from '../lambdas/shared/names';
import { environmentPool } from './environments';

/**
 * The handlers the local stack hosts: the WebSocket routes, the authorizer, publish, and the shard
 * worker that the in-process SQS event source invokes.
 */
export const LOCAL_HANDLERS = [
  'authorizer',
  'connect',
  'disconnect',
  'default',
  'publish',
  'worker',
] as const satisfies readonly (keyof typeof HANDLERS)[];

/** A hosted handler, named as in {@link HANDLERS}. */
export type HandlerName = (typeof LOCAL_HANDLERS)[number];

/** What a Lambda handler module exports as `handler`. */
// biome-ignore lint/suspicious/noExplicitAny: events differ per handler; each caller builds the right shape.
export type LambdaHandler = (event: any, context: Context) => Promise<unknown>;

/** One loaded instance of every handler. */
export type HandlerSet = Readonly<Record<HandlerName, LambdaHandler>>;

/** Environment changes: a string sets the variable, `undefined` deletes it. */
export type EnvChanges = Readonly<Record<string, string | undefined>>;

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
  /** Gives the environment back (see {@link holdEnvironment}). */
  readonly release: () => void;
}

/** Options for {@link loadHandlers}. */
export interface LoadOptions {
  /** Execution environments per function (see environments.ts). @default 1 each */
  readonly environments?: Partial<Record<HandlerName, number>>;
}

function instanceQuery(instance: number, environment: number): string {
  const parts = [
    ...(instance === 0 ? [] : [`instance=${instance}`]),
    ...(environment === 0 ? [] : [`environment=${environment}`]),
  ];
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

async function importHandler(root: string, name: HandlerName, query: string): Promise<LambdaHandler> {
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
    const release = holdEnvironment(changes);
    try {
      const instance = instances++;
      const modules = await Promise.all(
        LOCAL_HANDLERS.map(async (name) => {
          const count = options.environments?.[name] ?? 1;
          if (!Number.isInteger(count) || count < 1)
            throw new RangeError(`environments of ${name} must be a positive integer, got ${count}`);
          const loaded = await Promise.all(
            Array.from({ length: count }, (_, environment) =>
              importHandler(root, name, instanceQuery(instance, environment)),
            ),
          );
          return [name, count === 1 ? (loaded[0] as LambdaHandler) : environmentPool(loaded)] as const;
        }),
      );
      return { handlers: Object.fromEntries(modules) as Record<HandlerName, LambdaHandler>, release };
    } catch (error) {
      release();
      throw error;
    }
  });
  loading = next.catch(() => {});
  return next;
}
