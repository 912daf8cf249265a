/**
 * Execution environments in Node processes. In AWS every concurrent invocation of a function has
 * its own environment on its own share of CPU; in one local process, sixteen shard workers and the
 * emulator they post to all share one event loop and one core. Spreading the environments over a
 * few child processes gives them their own loops and lets the stack use every core. One process per
 * environment is not better on a small machine: sixteen processes on two cores each pay their own
 * JIT warm-up and GC (measured: 1.35 ms of CPU per delivery against 0.5 ms with four processes).
 * Each environment is still its own module instance (environment-child.ts), with the variables
 * the stack set for the in-process handlers.
 *
 * The child's stdout lines are written to this process's stdout, where the handler-output capture
 * turns EMF lines into `GET /metrics` totals as it does for in-process handlers.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import type { LambdaHandler } from './handlers';

/** What the parent sends a child. */
export type ChildRequest = {
  readonly type: 'invoke';
  readonly id: number;
  /** Which of the process's environments runs it. */
  readonly environment: number;
  readonly event: unknown;
  readonly context: {
    readonly functionName: string;
    readonly invokedFunctionArn: string;
    readonly memoryLimitInMB: string;
    readonly awsRequestId: string;
    /** Epoch ms at which the invocation times out. */
    readonly deadline: number;
  };
};

/** What a child sends back. */
export type ChildResponse =
  | { readonly type: 'ready'; readonly functionName: string; readonly cpuMicros: number }
  | { readonly type: 'failed'; readonly error: { readonly name: string; readonly message: string } }
  | { readonly type: 'result'; readonly id: number; readonly result: unknown; readonly cpuMicros: number }
  | {
      readonly type: 'error';
      readonly id: number;
      readonly error: {
        readonly name: string;
        readonly message: string;
        readonly code?: string;
        readonly stack?: string;
      };
      readonly cpuMicros: number;
    };

/** Thrown for an invocation whose environment process died before answering. */
export class EnvironmentExitedError extends Error {
  override readonly name = 'EnvironmentExitedError';
  readonly code = 'environment_exited';
}

/** Invocations and CPU time since the process was ready. */
export interface EnvironmentProcessStats {
  readonly invocations: number;
  /**
   * CPU (user + system) the process used after its modules were imported, in ms, measured inside
   * it at its latest answer: the invocations' work, its GC and JIT included.
   */
  readonly cpuMs: number;
}

/** A function's processes together. */
export interface ProcessPoolStats extends EnvironmentProcessStats {
  readonly pids: readonly number[];
}

/** One forked process and its environments. */
export interface EnvironmentProcess {
  /** One handler per environment; call each once at a time (the environment pool does). */
  readonly handlers: readonly LambdaHandler[];
  readonly pid: number;
  readonly stats: EnvironmentProcessStats;
  /** Ends the child; pending invocations reject with {@link EnvironmentExitedError}. */
  stop(): Promise<void>;
}

/** Options for {@link startEnvironmentProcess}. */
export interface EnvironmentProcessOptions {
  /** Absolute path of the handler module. */
  readonly modulePath: string;
  readonly functionName: string;
  /** The child's whole environment. */
  readonly env: NodeJS.ProcessEnv;
  /** Working directory, where `tsx` resolves from. */
  readonly cwd: string;
  /** Environments (module instances) the process hosts. @default 1 */
  readonly environments?: number;
  /** How long the process may take to import its modules. @default 60 s */
  readonly startTimeoutMs?: number;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'environment-child.ts');

/**
 * Forks one process hosting `environments` environments and resolves once every one has imported
 * its handler module.
 *
 * @example
 * const p = await startEnvironmentProcess({ modulePath, functionName: 'worker', env: process.env, cwd: root, environments: 4 });
 * await p.handlers[0](sqsEvent, context);
 */
export async function startEnvironmentProcess(
  options: EnvironmentProcessOptions,
): Promise<EnvironmentProcess> {
  const environments = options.environments ?? 1;
  const child: ChildProcess = fork(CHILD, [options.modulePath, options.functionName, String(environments)], {
    cwd: options.cwd,
    env: options.env,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  if (child.stdout !== null) {
    // Line by line, as CloudWatch would split it: the capture parses whole lines only.
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      process.stdout.write(`${line}\n`);
    });
  }

  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  const stats = { invocations: 0, cpuMs: 0 };
  let cpuAtReady = 0;
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      for (const { reject } of pending.values()) {
        reject(
          new EnvironmentExitedError(
            `${options.functionName} environment (pid ${child.pid}) exited (${signal ?? code}) during an invocation`,
          ),
        );
      }
      pending.clear();
      resolve();
    });
  });

  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`${options.functionName} environment did not start within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
      const settle = (error?: Error) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('error', settle);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onMessage = (message: ChildResponse) => {
        if (message.type === 'ready') {
          cpuAtReady = message.cpuMicros;
          settle();
        } else if (message.type === 'failed') {
          settle(new Error(`${options.functionName} environment failed to start: ${message.error.message}`));
        }
      };
      child.on('message', onMessage);
      child.once('error', settle);
      void exit.then(() => settle(new Error(`${options.functionName} environment exited while starting`)));
    });
  } catch (error) {
    // Nothing else holds this child yet: end it here, or it outlives the stack.
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    throw error;
  }
  child.on('error', (error) => {
    // A failed send is reported to its invocation; anything else ends the environment.
    if (!exited) child.kill('SIGKILL');
    process.stderr.write(`${options.functionName} environment (pid ${child.pid}): ${error.message}\n`);
  });

  child.on('message', (message: ChildResponse) => {
    if (message.type !== 'result' && message.type !== 'error') return;
    const waiter = pending.get(message.id);
    if (waiter === undefined) return;
    pending.delete(message.id);
    stats.cpuMs = Math.max(stats.cpuMs, (message.cpuMicros - cpuAtReady) / 1000);
    if (message.type === 'result') waiter.resolve(message.result);
    else {
      const { name, message: text, code, stack } = message.error;
      const error = Object.assign(new Error(text), { name, ...(code === undefined ? {} : { code }) });
      if (stack !== undefined) error.stack = stack;
      waiter.reject(error);
    }
  });

  const invoke = (environment: number, event: unknown, context: Context): Promise<unknown> => {
    if (exited) {
      return Promise.reject(new EnvironmentExitedError(`${options.functionName} environment has exited`));
    }
    const id = nextId++;
    stats.invocations++;
    const request: ChildRequest = {
      type: 'invoke',
      id,
      environment,
      event,
      context: {
        functionName: context.functionName,
        invokedFunctionArn: context.invokedFunctionArn,
        memoryLimitInMB: context.memoryLimitInMB,
        awsRequestId: context.awsRequestId,
        deadline: Date.now() + context.getRemainingTimeInMillis(),
      },
    };
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send(request, (error) => {
        if (error === null || !pending.has(id)) return;
        pending.delete(id);
        reject(error);
      });
    });
  };

  return {
    handlers: Array.from(
      { length: environments },
      (_, environment): LambdaHandler =>
        (event, context) =>
          invoke(environment, event, context),
    ),
    pid: child.pid as number,
    get stats() {
      return { ...stats };
    },
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM');
        await exit;
      }
    },
  };
}
